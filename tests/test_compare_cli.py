"""`loadgen compare` / `loadgen report` reject bad input with one line, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loadgen.compare.targets import TargetSpec, parse_targets
from loadgen.errors import ConfigError
from tests.fixtures.procs import run_loadgen


def loadgen(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI and capture its output."""
    return run_loadgen(*args, timeout=60)


def test_target_specs_parse_name_equals_url_and_drop_v1() -> None:
    assert TargetSpec.parse("vllm=http://127.0.0.1:8000/v1/") == TargetSpec("vllm", "http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["vllm=http://a:1"], "two or more targets"),
        (["vllm=http://a:1", "vllm=http://b:2"], "given twice"),
        (["vllm=ftp://a:1", "hf=http://b:2"], "not an http(s):// URL"),
        (["http://a:1", "hf=http://b:2"], "expected NAME=URL"),
    ],
)
def test_bad_targets_are_refused_with_the_reason(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_targets(items)


def test_compare_with_one_target_is_a_one_line_error() -> None:
    done = loadgen("compare", "vllm=http://127.0.0.1:9")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "loadgen: error: a comparison needs two or more targets (NAME=URL each), or --launch"
    )


def test_compare_with_unreachable_servers_names_them() -> None:
    done = loadgen("compare", "a=http://127.0.0.1:9", "b=http://127.0.0.1:9", "--output-dir", "/tmp/unused")
    assert done.returncode == 2
    assert "a (http://127.0.0.1:9) is not ready" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["compare", "run"])
def test_an_output_dir_that_holds_a_run_is_refused_and_left_as_it_was(command: str, tmp_path: Path) -> None:
    # Writing a second run there would append to the first's records and overwrite its summaries.
    (tmp_path / "requests.jsonl").write_text('{"request_id": "earlier"}\n')
    args = (
        ["a=http://127.0.0.1:9", "b=http://127.0.0.1:9"]
        if command == "compare"
        else ["--base-url", "http://127.0.0.1:9", "--model", "m"]
    )
    done = loadgen(command, *args, "--output-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"loadgen: error: {tmp_path} already holds a run: pass another --output-dir, or move it away"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requests.jsonl"]
    assert (tmp_path / "requests.jsonl").read_text() == '{"request_id": "earlier"}\n'


def test_report_of_a_directory_that_is_not_a_run_is_a_one_line_error(tmp_path: Path) -> None:
    done = loadgen("report", str(tmp_path))
    assert done.returncode == 2
    assert "is not a run directory" in done.stderr and "Traceback" not in done.stderr


def test_random_weights_declared_for_the_run_raise_no_warning_for_servers_that_do_not_report() -> None:
    from loadgen.compare.targets import ServerInfo, setting_warnings

    vllm = ServerInfo("vllm", "http://127.0.0.1:1", True, "vllm", models=["m"])
    hf = ServerInfo("hf", "http://127.0.0.1:2", True, "hf", models=["m"], config={"random_weights": True})
    assert setting_warnings([vllm, hf], random_weights=True) == []
    assert "pass --random-weights" in setting_warnings([vllm, hf])[0]
    hf_real = ServerInfo(
        "hf", "http://127.0.0.1:2", True, "hf", models=["m"], config={"random_weights": False}
    )
    assert "hf serve(s) real weights" in setting_warnings([vllm, hf_real], random_weights=True)[0]
