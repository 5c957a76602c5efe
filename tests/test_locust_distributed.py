"""locust distributed: a master and two workers against the scripted server.

The master aggregates the workers' TTFT/ITL/TPOT statistics (locust's own merge), their Prometheus
histograms (servebench's report data, scraped from the master's `/metrics`) and their request
records (one results run on the master). A worker that dies does not end the master's run.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen import errors
from loadgen.results import load_run
from servers.vllm.buckets import TTFT_BUCKETS
from tests.fixtures.locust import LocustProcess, LocustRun, run_locust, start_locust, workload_args
from tests.fixtures.procs import ServerProcess, free_port

USERS = 4


def master_args(sim: ServerProcess, master_port: int, prompts: Path, results: Path) -> list[str]:
    return [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(master_port),
        "--expect-workers",
        "2",
        "-u",
        str(USERS),
        "-r",
        str(USERS),
        "--json",
        "--host",
        sim.base_url,
        "--results-dir",
        str(results),
        *workload_args(prompts),
    ]


def worker_args(master_port: int) -> list[str]:
    return ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]


def json_of(process: LocustProcess) -> LocustRun:
    """The master's output as a `LocustRun` (statistics parsed from its stdout)."""
    return LocustRun(process.process.returncode, process.stdout(), process.log())


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def cluster_ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


def test_master_aggregates_statistics_metrics_and_records_of_two_workers(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path, cluster_ports: tuple[int, int]
) -> None:
    master_port, web_port = cluster_ports
    results = tmp_path / "results"
    args = [
        *master_args(sim_server, master_port, jsonl_prompts, results),
        "--autostart",
        "--run-time",
        "5s",
        "--autoquit",
        "4",
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(web_port),
    ]
    with ExitStack() as stack:
        master = stack.enter_context(start_locust(args, tmp_path, "master"))
        workers = [
            stack.enter_context(start_locust(worker_args(master_port), tmp_path, f"worker{i}"))
            for i in (1, 2)
        ]
        master.wait_for_log("level summaries in", timeout_s=90)
        page = httpx.get(f"http://127.0.0.1:{web_port}/metrics", timeout=10)
        master.process.wait(timeout=60)
        for worker in workers:
            worker.process.wait(timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    stats = json_of(master)
    post, ttft = stats.entry("POST"), stats.entry("TTFT")
    assert {stats.entry(kind)["num_requests"] for kind in ("TTFT", "ITL", "TPOT")} == {ttft["num_requests"]}
    assert ttft["num_requests"] == post["num_requests"] - post["num_failures"] > 0

    per_worker = [
        int(n) for w in workers for n in re.findall(r"finished (\d+) requests in this test", w.log())
    ]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker), [w.log()[-2000:] for w in workers]
    run = load_run(next(results.glob("*/run.json")).parent)
    records = run.records()
    assert len(records) == sum(per_worker)  # the master holds every worker's records
    assert post["num_requests"] == sum(1 for r in records if r.error_class != errors.CANCELLED)
    assert [s["level"] for s in run.summaries] == [f"concurrency={USERS}"]

    samples = metric_samples(page.text)
    target = (("target", sim_server.base_url.removeprefix("http://")),)
    outcomes = {
        dict(labels)["outcome"]: value
        for (name, labels), value in samples.items()
        if name == "locust_requests_total"
    }
    assert outcomes["success"] == ttft["num_requests"]
    assert sum(outcomes.values()) == len(records)
    count = samples[("locust_time_to_first_token_seconds_count", target)]
    assert count == ttft["num_requests"]
    mean_s = samples[("locust_time_to_first_token_seconds_sum", target)] / count
    assert mean_s * 1000 == pytest.approx(ttft["total_response_time"] / ttft["num_requests"], rel=1e-6)
    les = [
        dict(labels)["le"]
        for (name, labels), _ in samples.items()
        if name == "locust_time_to_first_token_seconds_bucket"
    ]
    assert [float(le) for le in les[:-1]] == list(TTFT_BUCKETS) and les[-1] == "+Inf"
    assert samples[("locust_inter_token_latency_seconds_count", target)] > count
    assert ("locust_users", target) in samples


def test_a_worker_dying_does_not_break_the_masters_run(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path, cluster_ports: tuple[int, int]
) -> None:
    master_port, _ = cluster_ports
    results = tmp_path / "results"
    args = [*master_args(sim_server, master_port, jsonl_prompts, results), "--headless", "--run-time", "8s"]
    with ExitStack() as stack:
        master = stack.enter_context(start_locust(args, tmp_path, "master"))
        stack.enter_context(start_locust(worker_args(master_port), tmp_path, "survivor"))
        victim = stack.enter_context(start_locust(worker_args(master_port), tmp_path, "victim"))
        master.wait_for_log("All users spawned", timeout_s=60)
        time.sleep(1.0)
        os.killpg(victim.process.pid, signal.SIGKILL)
        killed_ns = time.perf_counter_ns()
        master.process.wait(timeout=60)
    log = master.log()
    assert master.process.returncode == 0, log[-4000:]
    assert "Traceback" not in log
    assert json_of(master).entry("TTFT")["num_requests"] > 0
    records = load_run(next(results.glob("*/run.json")).parent).records()
    assert any(r.send_ns > killed_ns + 2_000_000_000 and r.ok for r in records), (
        "the surviving worker stopped"
    )


def test_processes_flag_runs_workers_under_one_master(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path
) -> None:
    run = run_locust(
        ["--processes", "2", "--headless", "-u", "2", "-r", "2", "--run-time", "3s", "--json",
         "--host", sim_server.base_url, *workload_args(jsonl_prompts)],
        results_root=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    per_worker = [int(n) for n in re.findall(r"finished (\d+) requests in this test", run.stderr)]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker)
    records = run.records()
    assert len(records) == sum(per_worker)
    assert run.entry("TTFT")["num_requests"] == sum(1 for r in records if r.ok) > 0
