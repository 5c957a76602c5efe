"""`benchmarks.device_carry`: the kit's stage and install calls, planned against what one device
call carries (64 MiB with the working tree, 8 carried paths)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.device_carry import (
    BLOCK_BYTES,
    LIMIT_BYTES,
    MARGIN_BYTES,
    CarryError,
    checkout_bytes,
    main,
    pairing_size,
    plan,
)

MB = 1_000_000
# Session 6's kit, built with 21.5 MB parts (bytes as `du -sb` read them).
SESSION_6_KIT = [
    *[(f"kit/part0{i}", 21_508_192) for i in range(1, 6)],
    ("kit/part06", 19_047_222),
    ("kit/part07", 21_506_794),
    ("kit/part08", 10_941_825),
    ("kit/part09", 21_506_963),
]


def test_session_6s_kit_pairs_as_it_was_staged_by_hand() -> None:
    calls = plan(SESSION_6_KIT, [("subset.json", 7_458_902)], checkout=21_115_600)
    assert [c.carry for c in calls] == [
        ["kit/part01", "kit/part02"],
        ["kit/part03", "kit/part04"],
        ["kit/part05", "kit/part07"],
        ["kit/part06", "kit/part08"],
        ["kit/part09", "subset.json"],
    ]
    assert calls[0].command == "benchmarks/gpu_host.sh stage kit/part01 kit/part02"
    assert calls[-1].command == "benchmarks/gpu_host.sh install kit/part09"
    assert all(c.total_bytes <= LIMIT_BYTES - MARGIN_BYTES for c in calls)
    assert calls[0].total_bytes == 21_115_600 + 2 * 21_508_192


def test_a_grown_checkout_splits_the_pairs_and_names_the_size_that_pairs_again() -> None:
    # Session 5: the checkout at 18.7 MiB and 24 MB parts, two of which no longer fit one call.
    checkout = int(18.7 * 2**20)
    parts = [(f"kit/part0{i}", 24 * MB) for i in range(1, 5)]
    calls = plan(parts, [], checkout)
    assert [c.carry for c in calls[:-1]] == [["kit/part01"], ["kit/part02"], ["kit/part03"]]
    size = pairing_size(checkout)
    assert size % 100_000 == 0 and checkout + 2 * size <= LIMIT_BYTES - MARGIN_BYTES
    assert checkout + 2 * (size + 100_000) > LIMIT_BYTES - MARGIN_BYTES
    # the three parts of that size pair again
    assert len(plan([(f"p{i}", size) for i in range(5)], [], checkout)) == 3


def test_a_part_or_an_install_call_that_cannot_fit_is_an_error_that_says_what_to_rebuild() -> None:
    too_big = r"kit/part01 \(45\.0 MB\) does not fit.*make-wheelhouse\.sh DEST \d+"
    with pytest.raises(CarryError, match=too_big):
        plan([("kit/part01", 45 * MB), ("kit/part02", MB)], [], checkout=22 * MB)
    with pytest.raises(CarryError, match="the install call .* carry less with it"):
        plan([("kit/part01", MB), ("kit/part02", 30 * MB)], [("models/13b", 20 * MB)], checkout=22 * MB)
    with pytest.raises(CarryError, match="no parts"):
        plan([], [], checkout=0)


def test_no_call_carries_more_than_eight_paths() -> None:
    parts = [(f"kit/p{i:02d}", MB) for i in range(20)]
    calls = plan(parts, [], checkout=0)
    assert all(len(c.carry) <= 8 for c in calls)
    assert sorted(n for c in calls for n in c.carry) == [n for n, _ in parts]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_checkout(root: Path) -> None:
    """A checkout with a tracked file, an untracked one, an ignored kit and a deleted tracked file."""
    git(root, "init", "-q")
    (root / ".gitignore").write_text("/kit/\n")
    (root / "tracked.txt").write_bytes(b"x" * 1000)
    (root / "gone.txt").write_bytes(b"x" * 5000)
    git(root, "add", ".")
    (root / "gone.txt").unlink()
    (root / "new.txt").write_bytes(b"y" * 300)
    (root / "kit" / "part01").mkdir(parents=True)
    (root / "kit" / "part01" / "w.part").write_bytes(b"z" * 4000)
    (root / "kit" / "part02").mkdir()
    (root / "kit" / "part02" / "w.part").write_bytes(b"z" * 3000)
    (root / "kit" / "parts.txt").write_text("part01\npart02\n")


def test_the_checkout_counts_what_travels_and_not_what_git_ignores(tmp_path: Path) -> None:
    make_checkout(tmp_path)
    # tracked.txt, new.txt and .gitignore, each a block on disk
    assert checkout_bytes(tmp_path) == 3 * BLOCK_BYTES
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "notes.md").write_bytes(b"n" * (BLOCK_BYTES + 1))
    git(tmp_path, "add", "shared")  # counted once, tracked or not
    assert checkout_bytes(tmp_path) == 3 * BLOCK_BYTES + 2 * BLOCK_BYTES


def test_the_command_line_plans_a_real_kit_and_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_checkout(tmp_path)
    (tmp_path / "subset.json").write_bytes(b"s" * 100)
    assert main(["plan", "kit", "--root", str(tmp_path), "--install-with", "subset.json", "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert [c["carry"] for c in calls] == [["kit/part01"], ["kit/part02", "subset.json"]]
    assert calls[1]["carry_bytes"] == [BLOCK_BYTES, BLOCK_BYTES]
    # a limit too small for the parts
    assert main(["plan", "kit", "--root", str(tmp_path), "--limit-bytes", "5000", "--margin-bytes", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("device_carry: kit/part01") and err.count("\n") == 1
    assert main(["plan", "nokit", "--root", str(tmp_path)]) == 2
    assert "parts.txt not found" in capsys.readouterr().err


def test_the_module_runs_as_a_script(tmp_path: Path) -> None:
    make_checkout(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.device_carry", "plan", "kit", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "call 1: benchmarks/gpu_host.sh stage kit/part01" in done.stdout
    assert "call 2: benchmarks/gpu_host.sh install kit/part02" in done.stdout
