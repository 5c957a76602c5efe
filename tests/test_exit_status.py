"""`loadgen run` / `loadgen compare` exit statuses: failed requests beyond `--max-error-rate` are not 0.

Real runs against the scripted server: nothing listening, the server SIGKILLed mid-run, injected
errors below and above the threshold, and a comparison where one target fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from loadgen.exit_status import (
    EXIT_ERRORS_ABOVE_LIMIT,
    EXIT_NOTHING_SUCCEEDED,
    EXIT_OK,
    error_verdict,
)
from tests.fixtures.procs import REPO_ROOT, free_port, run_loadgen
from tests.fixtures.sim import SimFactory

MODEL_DIR = os.environ.get("SERVEBENCH_MODEL_DIR", str(REPO_ROOT / ".cache/models/SmolLM2-135M-Instruct"))


def loadgen(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run_loadgen(*args, timeout=timeout)


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    path.write_text("".join(orjson.dumps({"prompt": f"question {i}?"}).decode() + "\n" for i in range(4)))
    return path


def run_args(base_url: str, prompts: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--base-url",
        base_url,
        "--model",
        "sim-model",
        "--dataset-path",
        str(prompts),
        "--max-tokens",
        "4",
        "--output-dir",
        str(out),
        "--no-progress",
        "--server-metrics-interval",
        "0",
        *extra,
    ]


def summary(completed: int, failed: int, target: str = "t", cancelled: int = 0) -> dict[str, object]:
    errors = {"http_5xx": failed - cancelled} | ({"cancelled": cancelled} if cancelled else {})
    return {"target": target, "completed": completed, "failed": failed, "errors": errors}


def test_verdict_rules() -> None:
    assert error_verdict([summary(10, 0)], 0.0).code == EXIT_OK
    assert error_verdict([summary(99, 1)], 0.0).code == EXIT_ERRORS_ABOVE_LIMIT
    assert error_verdict([summary(99, 1)], 0.01).code == EXIT_OK
    assert error_verdict([summary(0, 5), summary(0, 5)], 0.5).code == EXIT_NOTHING_SUCCEEDED
    assert error_verdict([summary(5, 3, cancelled=3)], 0.0).code == EXIT_OK  # a stop's cancels
    verdict = error_verdict([summary(10, 0, "a"), summary(0, 10, "b")], 0.5)  # per target, not pooled
    assert verdict.code == EXIT_NOTHING_SUCCEEDED and verdict.message and "b (10 failed)" in verdict.message


def test_nothing_listening_exits_5(prompts_file: Path, tmp_path: Path) -> None:
    proc = loadgen(
        *run_args(f"http://127.0.0.1:{free_port()}", prompts_file, tmp_path / "r", "--num-requests", "6")
    )
    assert proc.returncode == EXIT_NOTHING_SUCCEEDED, proc.stderr
    assert "no request succeeded on 127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_errors_below_the_threshold_exit_0_and_above_exit_4(
    sim_server_factory: SimFactory, prompts_file: Path, tmp_path: Path
) -> None:
    with sim_server_factory(ttft_ms=1, itl_ms=1, output_tokens=4, fault="http_500", fault_every=4) as sim:
        common = ["--concurrency", "2", "--num-requests", "40"]
        strict = loadgen(*run_args(sim.base_url, prompts_file, tmp_path / "a", *common))
        assert strict.returncode == EXIT_ERRORS_ABOVE_LIMIT, strict.stderr
        assert "failed requests above --max-error-rate 0" in strict.stderr
        lenient = loadgen(
            *run_args(sim.base_url, prompts_file, tmp_path / "b", *common, "--max-error-rate", "0.3")
        )
        assert lenient.returncode == EXIT_OK, lenient.stderr
        tight = loadgen(
            *run_args(sim.base_url, prompts_file, tmp_path / "c", *common, "--max-error-rate", "0.2")
        )
        assert tight.returncode == EXIT_ERRORS_ABOVE_LIMIT, tight.stderr  # 1 in 4 failed: 25% > 20%


def test_server_killed_mid_run_is_not_exit_0_and_not_blamed_on_the_client(
    prompts_file: Path, tmp_path: Path, sim_server_factory: SimFactory
) -> None:
    out = tmp_path / "run"
    with sim_server_factory(ttft_ms=5, itl_ms=5, output_tokens=8) as sim:
        deadline = time.monotonic() + 30
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadgen",
                *run_args(sim.base_url, prompts_file, out, "--concurrency", "4", "--num-requests", "3000"),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        requests = out / "requests.jsonl"
        while time.monotonic() < deadline and (
            not requests.exists() or requests.read_bytes().count(b"\n") < 40
        ):
            time.sleep(0.05)
        os.killpg(sim.process.pid, signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == EXIT_ERRORS_ABOVE_LIMIT, stderr
    assert "failed requests above --max-error-rate" in stderr
    level = orjson.loads(next(out.glob("summary-*.json")).read_bytes())
    assert level["completed"] >= 40 and level["failed"] > 0
    check = level["selfcheck"]
    assert not any("in flight" in reason for reason in check["reasons"]), check
    if check["achieved_in_flight"] is not None and check["achieved_in_flight"] < 0.95 * 4:
        assert any("not a client limit" in note for note in check["notes"]), check


def test_compare_applies_the_rule_per_target(sim_server_factory: SimFactory, tmp_path: Path) -> None:
    if not Path(MODEL_DIR, "tokenizer.json").is_file():
        pytest.skip(f"no tokenizer at {MODEL_DIR} (make model)")
    with (
        sim_server_factory(ttft_ms=1, itl_ms=1, output_tokens=8, model="m") as good,
        sim_server_factory(
            ttft_ms=1, itl_ms=1, output_tokens=8, model="m", fault="http_500", fault_every=3
        ) as bad,
    ):
        args = [
            "compare",
            f"good={good.base_url}",
            f"bad={bad.base_url}",
            "--tokenizer",
            MODEL_DIR,
            "--concurrency",
            "2",
            "--num-requests",
            "12",
            "--warmup",
            "0",
            "--output-len",
            "8",
            "--input-len",
            "16",
            "--offline-batches",
            "none",
            "--parity",
            "report",
            "--no-progress",
        ]
        strict = loadgen(*args, "--output-dir", str(tmp_path / "a"), timeout=180)
        assert strict.returncode == EXIT_ERRORS_ABOVE_LIMIT, strict.stderr[-3000:]
        assert "bad: " in strict.stderr and "good: " not in strict.stderr
        lenient = loadgen(*args, "--output-dir", str(tmp_path / "b"), "--max-error-rate", "0.5", timeout=180)
        assert lenient.returncode in (EXIT_OK, 3), lenient.stderr[-3000:]  # 3: parity may fail on `bad`


def test_compare_applies_its_request_time_limits(sim_server_factory: SimFactory, tmp_path: Path) -> None:
    # A server 1.5 s from the first token: a 0.4 s --ttft-timeout fails every request as a timeout
    # (and 600 s, far above it, lets them all through: the limit is compare's, not a default).
    if not Path(MODEL_DIR, "tokenizer.json").is_file():
        pytest.skip(f"no tokenizer at {MODEL_DIR} (make model)")
    with (
        sim_server_factory(ttft_ms=1500, itl_ms=1, output_tokens=4, model="m") as slow_a,
        sim_server_factory(ttft_ms=1500, itl_ms=1, output_tokens=4, model="m") as slow_b,
    ):
        args = ["compare", f"a={slow_a.base_url}", f"b={slow_b.base_url}", "--tokenizer", MODEL_DIR,
                "--concurrency", "2", "--num-requests", "2", "--warmup", "0", "--output-len", "4",
                "--input-len", "16", "--offline-batches", "none", "--parity", "report", "--no-progress",
                "--probe-prompts", "1", "--max-error-rate", "1"]  # fmt: skip
        cut = loadgen(*args, "--ttft-timeout", "0.4", "--output-dir", str(tmp_path / "cut"), timeout=180)
        kept = loadgen(*args, "--ttft-timeout", "600", "--output-dir", str(tmp_path / "kept"), timeout=180)
    assert cut.returncode == EXIT_NOTHING_SUCCEEDED, cut.stderr[-3000:]
    assert kept.returncode in (EXIT_OK, 3), kept.stderr[-3000:]  # 3: the one-prompt probe's parity may fail

    def errors(run: str) -> list[str | None]:
        lines = (tmp_path / run / "requests.jsonl").read_bytes().splitlines()
        return [orjson.loads(line)["error_message"] for line in lines]

    assert errors("cut") and set(errors("cut")) == {"no token within 0.4 s"}
    assert errors("kept") and set(errors("kept")) == {None}


def test_the_exit_statuses_are_in_the_help() -> None:
    for command in ("run", "compare"):
        text = " ".join(loadgen(command, "--help").stdout.split())
        assert "--max-error-rate" in text and "5 no measured request succeeded" in text, command
