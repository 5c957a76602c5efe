"""The servers' own view: `/metrics` scraped during each level, kept in the run, set beside the client's.

Checked against the scripted server, whose `vllm:` histograms are fed by its true timing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadgen.server_metrics import histogram_delta, metrics_file_name, parse_metrics, quantile
from tests.fixtures.procs import REPO_ROOT
from tests.fixtures.sim import SimFactory, fetch_truth

PAGE = """# HELP vllm:time_to_first_token_seconds x
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 4.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.8
vllm:time_to_first_token_seconds_created{engine="0",model_name="m"} 1.7e9
vllm:num_requests_waiting{engine="0",model_name="m"} 3.0
vllm:generation_tokens_total{engine="0",model_name="m"} 40.0
python_gc_objects_collected_total{generation="0"} 10.0
"""


def test_parse_and_delta_of_a_vllm_page() -> None:
    before = parse_metrics("")
    after = parse_metrics(PAGE)
    assert after["h"]["ttft"] == {"sum": 0.8, "count": 4.0, "le": [0.1, 0.5], "cum": [2.0, 4.0]}
    assert after["g"] == {"waiting": 3.0} and after["c"] == {"generation_tokens": 40.0}
    delta = histogram_delta(before, after, "ttft")
    assert delta is not None and delta["count"] == 4 and delta["mean_ms"] == pytest.approx(200.0)
    assert delta["p50_ms"] == pytest.approx(100.0)  # rank 2 of 4 ends the first bucket
    assert quantile(0.75, [0.1, 0.5], [2.0, 4.0], 4.0) == pytest.approx(0.3)
    assert quantile(0.99, [0.1], [1.0], 4.0) == 0.1  # beyond the last finite bucket: its bound


def test_server_view_agrees_with_the_sims_truth(sim_server_factory: SimFactory, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "one"}\n{"prompt": "two"}\n')
    out = tmp_path / "run"
    # 4 clients against 2 server slots: half the server's TTFT is queueing, and the server knows it
    with sim_server_factory(ttft_ms=40, itl_ms=2, output_tokens=8, max_concurrency=2) as sim:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "loadgen",
                "run",
                "--base-url",
                sim.base_url,
                "--model",
                "sim-model",
                "--dataset-path",
                str(prompts),
                "--concurrency",
                "4",
                "--num-requests",
                "24",
                "--warmup",
                "2",
                "--max-tokens",
                "8",
                "--server-metrics-interval",
                "0.2",
                "--output-dir",
                str(out),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        truth = fetch_truth(sim.base_url)
    summary = orjson.loads(next(out.glob("summary-*.json")).read_bytes())
    view = summary["server_metrics"]
    server, client = view["server"], view["client"]
    assert len(truth) == 26 == server["ttft"]["count"] == client["succeeded"]  # warm-up included
    true_ttft = sum(t["first_token_ns"] - t["received_ns"] for t in truth) / len(truth) / 1e6
    true_queue = sum(t["queue_ns"] for t in truth) / len(truth) / 1e6
    assert server["ttft"]["mean_ms"] == pytest.approx(true_ttft, rel=1e-3)
    assert server["queue"]["mean_ms"] == pytest.approx(true_queue, rel=1e-3)
    assert true_queue > 10  # the level really queued
    gap = client["ttft"]["mean_ms"] - server["ttft"]["mean_ms"]
    assert 0 <= gap < 25, gap  # network + HTTP on loopback: small, never negative
    assert server["peak_waiting"] >= 1

    lines = [
        orjson.loads(line) for line in (out / metrics_file_name(summary["target"])).read_bytes().splitlines()
    ]
    assert len(lines) >= 3
    assert lines[-1]["level"] == "concurrency=4" and lines[-1]["h"]["ttft"]["count"] == 26

    report = subprocess.run(
        [sys.executable, "-m", "loadgen", "report", str(out)], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert report.returncode == 0, report.stderr
    markdown = (out / "report.md").read_text()
    assert "Server-side view (from /metrics)" in markdown and "queueing" in markdown
    assert f"{server['ttft']['mean_ms']:.0f}" in markdown
