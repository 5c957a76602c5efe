"""`loadgen compare` on realistic traffic against real vLLM (CPU) and the real HF server.

ShareGPT prompts with each conversation's recorded answer length as `max_tokens` (`ignore_eos`), two
sampled choices per request (`--n 2`) and two repeats per level: the run a user makes to ask "how much
faster, for my traffic", scaled down to a few requests. Everything is checked from the files the run
leaves, as `loadgen report` reads them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.fixtures.procs import ServerProcess
from tests.test_compare_real import loadgen

pytestmark = pytest.mark.slow

REQUESTS = 4
REPEATS = 2
N = 2


@pytest.fixture(scope="module")
def sharegpt_run(
    vllm_server: ServerProcess, hf_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """ShareGPT lengths, n=2, 2 repeats of one closed-loop level on the shared servers."""
    run_dir = tmp_path_factory.mktemp("compare-real-traffic") / "run"
    done = loadgen(
        "compare",
        f"vllm={vllm_server.base_url}",
        f"hf={hf_server.base_url}",
        "--workload",
        "sharegpt",
        "--max-prompt-len",
        "128",
        "--max-answer-len",
        "24",
        "--n",
        str(N),
        "--repeats",
        str(REPEATS),
        "--concurrency",
        "2",
        "--num-requests",
        str(REQUESTS),
        "--warmup",
        "0",
        "--offline-batches",
        "none",
        "--probe-prompts",
        "4",
        "--probe-tokens",
        "8",
        "--output-dir",
        str(run_dir),
        "--no-progress",
    )
    return run_dir, done


def _summaries(run_dir: Path) -> list[dict[str, object]]:
    return [orjson.loads(p.read_bytes()) for p in sorted(run_dir.glob("summary-*.json"))]


def test_the_sharegpt_comparison_with_repeats_and_two_choices_completes(
    sharegpt_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, done = sharegpt_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    meta = orjson.loads((run_dir / "run.json").read_bytes())
    assert meta["workload"]["kind"] == "sharegpt"
    parity = orjson.loads((run_dir / "parity.json").read_bytes())
    gates = {g["name"]: g for g in parity["gates"]}
    assert gates["output_length"]["status"] == "pass", gates["output_length"]


def test_every_request_asked_for_its_answer_length_and_got_it_for_both_choices(
    sharegpt_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = sharegpt_run
    records = [orjson.loads(line) for line in (run_dir / "requests.jsonl").read_bytes().splitlines()]
    assert len(records) == 2 * REPEATS * REQUESTS  # two servers, each level twice
    lengths: dict[str, set[int]] = {}
    for record in records:
        assert record["error_class"] is None, record
        assert record["n"] == N and len(record["choice_tokens"]) == N
        # ignore_eos: the server's usage counts exactly n x the answer length the prompt asked for
        assert record["output_tokens"] == N * record["max_tokens"], record
        lengths.setdefault(record["target"], set()).add(record["max_tokens"])
    assert lengths["vllm"] == lengths["hf"]  # the same prompts, with the same lengths, on both servers
    assert len(lengths["hf"]) > 1  # ShareGPT answer lengths vary


def test_each_server_has_a_summary_per_repeat_and_a_pooled_one(
    sharegpt_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = sharegpt_run
    summaries = _summaries(run_dir)
    for target in ("vllm", "hf"):
        runs = [s for s in summaries if s["target"] == target and not s.get("pooled")]
        pooled = [s for s in summaries if s["target"] == target and s.get("pooled")]
        assert sorted(int(str(s["repeat"])) for s in runs) == list(range(REPEATS))
        assert all(s["completed"] == REQUESTS for s in runs)
        assert len(pooled) == 1 and pooled[0]["completed"] == REPEATS * REQUESTS


def test_the_report_gives_intervals_and_names_the_traffic(
    sharegpt_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = sharegpt_run
    markdown = (run_dir / "report.md").read_text()
    assert "Confidence intervals (95%)" in markdown
    assert "ShareGPT" in markdown
    assert "Lengths sent" in markdown
