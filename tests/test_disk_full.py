"""A full disk: `requests.jsonl` keeps only whole lines, the run stops cleanly and says so in one line.

Two ways in: a real 64 KiB tmpfs the test mounts and unmounts (root only; skipped with the reason
otherwise), and an injected short write followed by ENOSPC.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loadgen.exit_status import EXIT_WRITE_FAILED
from loadgen.record import RequestRecord
from loadgen.results import JsonlSink, RunWriter
from tests.fixtures.procs import REPO_ROOT


def record(index: int, text: str = "") -> RequestRecord:
    return RequestRecord(
        request_id=f"r{index}",
        target="t",
        index=index,
        api="completions",
        stream=True,
        send_ns=1,
        output_text=text,
    )


def whole_lines(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"cut last line: {data[-80:]!r}"
    return [orjson.loads(line) for line in data.splitlines()]


def test_a_short_write_is_cut_back_to_the_last_whole_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "requests.jsonl"
    failures: list[OSError] = []
    sink = JsonlSink(path, on_error=failures.append)
    for i in range(3):
        sink.write(record(i))
    real_write = os.write
    calls = {"n": 0}

    def short_then_full(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, data[: len(data) // 2])  # half a line reaches the file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", short_then_full)
    sink.write(record(3, "x" * 500))
    monkeypatch.setattr(os, "write", real_write)
    sink.write(record(4))  # dropped: the sink has stopped
    sink.close()
    assert [line["index"] for line in whole_lines(path)] == [0, 1, 2]
    assert len(failures) == 1 and failures[0].errno == errno.ENOSPC
    assert sink.written == 3 and sink.dropped == 2


def test_a_failed_json_dump_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = RunWriter(tmp_path / "run", {"command": "x"})

    def full(self: Path, data: bytes) -> int:
        self.open("wb").close()  # created, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError):
        writer.finish()
    assert not list((tmp_path / "run").glob("*.tmp"))


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for the test."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_tmpfs_stops_the_run_with_whole_lines_and_one_line_of_explanation(
    tiny_disk: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(orjson.dumps({"prompt": f"question {i}?"}).decode() + "\n" for i in range(4)))
    out = tiny_disk / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--sim",
            "--sim-arg",
            "--ttft-ms 1 --itl-ms 0 --output-tokens 64",
            "--dataset-path",
            str(prompts),
            "--save-text",
            "--concurrency",
            "4",
            "--num-requests",
            "5000",
            "--max-tokens",
            "64",
            "--output-dir",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == EXIT_WRITE_FAILED, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("loadgen: error:")]
    assert len(errors) == 1 and "writing requests.jsonl failed" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    lines = whole_lines(out / "requests.jsonl")
    assert 10 < len(lines) < 5000
    assert f"{len(lines)} whole records kept" in errors[0]
    assert not list(out.glob("*.tmp")), sorted(p.name for p in out.iterdir())
    # run.json is the one written at the start (or the final one, if it fitted): valid JSON either way
    assert orjson.loads((out / "run.json").read_bytes())["command"].startswith("python -m loadgen run")
