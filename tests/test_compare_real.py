"""`loadgen compare` against real vLLM (CPU) and the real HF server, as a user runs it.

One short sweep against the session's shared servers produces a complete report; a server with
random weights in place of the model is caught by the parity gate before any number is reported;
`loadgen report` rebuilds the report from the saved results.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.fixtures.hf import HF_SMALL_API_KEY
from tests.fixtures.procs import ServerProcess, run_loadgen

pytestmark = pytest.mark.slow


def loadgen(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the `loadgen` CLI as a subprocess."""
    return run_loadgen(*args, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def real_run(
    vllm_server: ServerProcess, hf_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A short comparison sweep (concurrency 1 and 4, one batch of 4) of the shared servers."""
    run_dir = tmp_path_factory.mktemp("compare-real") / "run"
    done = loadgen(
        "compare",
        f"vllm={vllm_server.base_url}",
        f"hf={hf_server.base_url}",
        "--concurrency",
        "1,4",
        "--num-requests",
        "4",
        "--warmup",
        "1",
        "--input-len",
        "32",
        "--output-len",
        "16",
        "--offline-batches",
        "4",
        "--probe-tokens",
        "16",
        "--slo",
        "ttft:5000",
        "--output-dir",
        str(run_dir),
        "--no-progress",
    )
    return run_dir, done


def test_compare_runs_against_real_servers_and_passes_parity(
    real_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, done = real_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vllm/hf" in done.stdout  # the speed-up column of the summary table
    assert f"report: {run_dir / 'report.html'}" in done.stdout
    parity = orjson.loads((run_dir / "parity.json").read_bytes())
    assert parity["passed"]
    agreement = parity["gates"][0]
    assert agreement["name"] == "token_agreement" and agreement["details"]["unit"] == "tokens"
    assert agreement["details"]["targets"]["vllm"]["mean_prefix_agreement"] >= 0.5


def test_compare_report_is_complete(real_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    run_dir, _ = real_run
    summaries = sorted(p.name for p in run_dir.glob("summary-*.json"))
    assert len(summaries) == 4  # 2 levels x 2 servers
    run = orjson.loads((run_dir / "run.json").read_bytes())
    servers = {s["name"]: s for s in run["servers"]}
    assert servers["vllm"]["kind"] == "vllm" and servers["vllm"]["version"].startswith("0.32")
    assert servers["hf"]["kind"] == "hf" and servers["hf"]["config"]["max_batch_size"] == 8
    assert servers["vllm"]["idle_rss_bytes"] > 500 * 2**20  # API server + engine core, found by port
    offline = orjson.loads((run_dir / "offline.json").read_bytes())
    assert {(b["target"], b["completed"]) for b in offline} == {("vllm", 4), ("hf", 4)}
    markdown = (run_dir / "report.md").read_text()
    for text in (
        "Parity gates passed",
        "Speed-up of vllm over hf",
        "concurrency=4",
        "goodput (SLOs met)",
        "Fixed batches",
        "block_size",
        "max_wait_ms",
        "sdpa_backend",
        "attention_reason",
        "| engine | thread |",
        "Load generator self-check",
        "cpu_count",
    ):
        assert text in markdown, text
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list(run_dir.glob("*.png"))) >= 5


def test_compare_keeps_the_batches_the_hf_server_formed(
    real_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = real_run
    files = sorted(p.name for p in run_dir.glob("batches-*.json"))
    assert files == [  # vLLM has no /batches: only the HF server's batches are kept
        "batches-01-hf-parity.json",
        "batches-02-hf-concurrency=1.json",
        "batches-03-hf-concurrency=4.json",
        "batches-04-hf-batch=4.json",
    ]
    summaries = [orjson.loads(p.read_bytes()) for p in run_dir.glob("summary-*-hf-*.json")]
    by_level = {s["level"]: s["server_batches"] for s in summaries}
    assert by_level["concurrency=1"]["rows_max"] == 1  # one request at a time: batches of one
    assert 1 <= by_level["concurrency=4"]["rows_max"] <= 4
    assert by_level["concurrency=4"]["decode_step_ms_p50"] > 0
    vllm_summaries = [orjson.loads(p.read_bytes()) for p in run_dir.glob("summary-*-vllm-*.json")]
    assert all("server_batches" not in s for s in vllm_summaries)
    offline = {b["target"]: b for b in orjson.loads((run_dir / "offline.json").read_bytes())}
    assert offline["hf"]["server_batches"]["rows_max"] <= 4 and offline["vllm"]["server_batches"] is None
    assert "Batches the servers formed" in (run_dir / "report.md").read_text()
    machine = orjson.loads((run_dir / "run.json").read_bytes())["machine"]
    assert machine["servebench_commit"] and machine["cpu_model"]


def test_loadgen_report_rebuilds_the_report(
    real_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    run_dir, _ = real_run
    done = loadgen("report", str(run_dir), "--output-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.md").read_text() == (run_dir / "report.md").read_text()
    assert (tmp_path / "report.html").is_file()


def test_compare_stops_at_parity_when_one_side_serves_random_weights(
    vllm_server: ServerProcess, hf_server_small: ServerProcess, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    done = loadgen(
        "compare",
        f"vllm={vllm_server.base_url}",
        f"hf={hf_server_small.base_url}",
        "--concurrency",
        "1",
        "--num-requests",
        "2",
        "--output-len",
        "8",
        "--offline-batches",
        "none",
        "--probe-prompts",
        "3",
        "--probe-tokens",
        "12",
        "--api-key-env",
        "TEST_HF_KEY",
        "--output-dir",
        str(run_dir),
        "--no-progress",
        env={"TEST_HF_KEY": HF_SMALL_API_KEY},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "PARITY FAILED (token_agreement)" in done.stdout
    assert not list(run_dir.glob("summary-*.json"))  # no number measured for servers that differ
    markdown = (run_dir / "report.md").read_text()
    assert "NOT COMPARABLE" in markdown and "not serving the same model" in markdown
    assert "hf serve(s) random weights" in markdown


def test_compare_keeps_each_servers_own_view(real_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Real vLLM and the real HF server: their /metrics scraped per level, deltas beside the client's."""
    run_dir, _ = real_run
    for target in ("vllm", "hf"):
        assert (run_dir / f"server-metrics-{target}.jsonl").is_file()
        for path in run_dir.glob(f"summary-*-{target}-*.json"):
            summary = orjson.loads(path.read_bytes())
            view = summary["server_metrics"]
            server, client = view["server"], view["client"]
            assert server["ttft"]["count"] == client["succeeded"] == 5, (target, view)  # 4 + 1 warm-up
            assert 0 < server["ttft"]["mean_ms"] <= client["ttft"]["mean_ms"] + 1, (target, view)
            assert server["queue"] is not None and server["e2e"]["count"] == 5
    assert "Server-side view (from /metrics)" in (run_dir / "report.md").read_text()
