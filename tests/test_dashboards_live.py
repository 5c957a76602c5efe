"""Every dashboard query against a real Prometheus scraping the real servers and clients.

A real Prometheus, running the repo's scrape configuration with local ports, scrapes a vLLM (CPU)
server, the HF server, the load generator (`loadgen run --metrics-port`, driving vLLM) and a locust
process (web UI `/metrics`, driving the HF server) while a short load runs. Every expression of every
panel and variable is then evaluated, template variables filled in as Grafana would, at one moment
inside the load: each must return at least one finite value, and every metric a dashboard names must
be exported by someone.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.procs import REPO_ROOT, ServerProcess, free_port, run_server, stop_process
from tests.fixtures.prometheus import (
    DashboardQuery,
    Prometheus,
    PrometheusFactory,
    dashboard_queries,
    substitute,
)

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"
VALUES = {"model": MODEL, "server": "vllm|hf", "target": "vllm|hf"}
LOAD_LIMIT_S = 600.0
"""Each load process is stopped by the test once Prometheus holds what it needs; this only bounds it."""
READY_TIMEOUT_S = 300.0
"""Generous: on a quiet machine this takes well under a minute, but with other test suites sharing the
2 cores one CPU request of the HF server has taken over 100 s."""


@dataclass(frozen=True)
class Scraped:
    """A Prometheus that scraped everything under load, the moment inside the load to query at, and
    a window reaching back to the load's start (what `$__rate_interval` and `$__range` become, so a
    slow machine's sparse requests still fall inside every rate window)."""

    prometheus: Prometheus
    at: float
    window: str

    def substitute(self, expr: str) -> str:
        """`expr` with the dashboard variables and Grafana's interval variables filled in."""
        return substitute(expr, VALUES, rate_interval=self.window, time_range=self.window)


def hostport(server: ServerProcess) -> str:
    return server.base_url.removeprefix("http://")


def loadgen_args(base_url: str, metrics_port: int, model_dir: Path, out: Path) -> list[str]:
    """`loadgen run` against vLLM, closed loop at 2, with live metrics on `metrics_port`."""
    return [
        sys.executable, "-m", "loadgen", "run", "--base-url", base_url, "--target-name", "vllm",
        "--model", MODEL, "--tokenizer", str(model_dir), "--input-len", "16", "--max-tokens", "8",
        "--concurrency", "2", "--duration", f"{LOAD_LIMIT_S:.0f}", "--num-prompts", "64",
        "--metrics-port", str(metrics_port), "--no-progress", "--output-dir", str(out),
    ]


def locust_args(base_url: str, web_port: int, model_dir: Path) -> list[str]:
    """locust with its web UI (for `/metrics`) started at once, 2 users against the HF server."""
    return [
        sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadgen" / "locust" / "locustfile.py"),
        "--autostart", "-u", "2", "-r", "2", "--run-time", f"{LOAD_LIMIT_S:.0f}s",
        "--web-host", "127.0.0.1", "--web-port", str(web_port), "--host", base_url,
        "--target-name", "hf", "--model", MODEL, "--tokenizer", str(model_dir),
        "--input-len", "16", "--output-len", "8", "--max-tokens", "8", "--num-prompts", "64",
    ]


def has_data(prometheus: Prometheus, expr: str, at: float | None = None) -> bool:
    return bool(prometheus.query(expr, at=at))


MIN_REQUESTS = 3
"""Finished requests per client and server before querying: a counter series that appears with its first
request needs later increments for rate() over the load to be above 0."""
READY_CHECKS = (
    # Every target's latest scrape succeeded (a failed one makes its series stale), and each load has
    # finished enough requests on both sides.
    'up{job="vllm"} == 1', 'up{job="hf-server"} == 1', 'up{job="loadgen"} == 1', 'up{job="locust"} == 1',
    f'loadgen_requests_total{{outcome="success"}} >= {MIN_REQUESTS}',
    f'locust_requests_total{{outcome="success"}} >= {MIN_REQUESTS}',
    f'sum by (server) (vllm:request_success_total{{server="vllm"}}) >= {MIN_REQUESTS}',
    f'sum by (server) (vllm:request_success_total{{server="hf"}}) >= {MIN_REQUESTS}',
    "hf_server:batches_total > 0",
)
SETTLE_S = 5.0
"""How long the load goes on after everything first has data, so rates see more than two samples."""


def wait_until_ready(prometheus: Prometheus, processes: dict[str, ServerProcess]) -> float:
    """The first moment, SETTLE_S after all READY_CHECKS first held, at which they all hold again.

    Fails with every process's log if a process dies or the checks do not hold in READY_TIMEOUT_S.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    first_ready: float | None = None
    while time.monotonic() < deadline:
        for name, proc in processes.items():
            if proc.process.poll() is not None:
                pytest.fail(f"{name} exited with {proc.process.returncode} during the load:\n"
                            f"{proc.log_tail()}")
        at = time.time() - 1.0  # a moment whose scrapes have surely been ingested
        if all(has_data(prometheus, expr, at) for expr in READY_CHECKS):
            first_ready = first_ready or at
            if at - first_ready >= SETTLE_S:
                return at
        time.sleep(1.0)
    missing = [expr for expr in READY_CHECKS if not has_data(prometheus, expr)]
    logs = "\n".join(f"--- {name}:\n{proc.log_tail(3000)}" for name, proc in processes.items())
    pytest.fail(f"no data after {READY_TIMEOUT_S:.0f} s for {missing}\n{logs}")


@pytest.fixture(scope="module")
def scraped(
    vllm_server: ServerProcess, hf_server: ServerProcess, smollm2_dir: Path,
    prometheus_factory: PrometheusFactory, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scraped]:
    """Prometheus scraping both servers, loadgen and locust; the load is stopped once it has data."""
    folder = tmp_path_factory.mktemp("dashboards-live")
    loadgen_port, locust_port = free_port(), free_port()
    targets = {"vllm": hostport(vllm_server), "hf-server": hostport(hf_server),
               "loadgen": f"127.0.0.1:{loadgen_port}", "locust": f"127.0.0.1:{locust_port}"}
    loadgen_cmd = loadgen_args(vllm_server.base_url, loadgen_port, smollm2_dir, folder / "loadgen")
    locust_cmd = locust_args(hf_server.base_url, locust_port, smollm2_dir)
    with prometheus_factory(targets) as prometheus, \
            run_server(loadgen_cmd, loadgen_port, folder / "loadgen.log", health_path="/metrics",
                       timeout_s=90) as loadgen, \
            run_server(locust_cmd, locust_port, folder / "locust.log", health_path="/metrics",
                       timeout_s=90) as locust:
        started = time.time()
        at = wait_until_ready(prometheus, {"loadgen": loadgen, "locust": locust, "vllm": vllm_server,
                                           "hf-server": hf_server, "prometheus": prometheus.server})
        stop_process(loadgen.process)
        stop_process(locust.process)
        yield Scraped(prometheus, at, f"{math.ceil(at - started) + 10}s")


def query_id(query: DashboardQuery) -> str:
    return f"{query.dashboard.removesuffix('.json')}:{query.where}"


QUERIES = dashboard_queries()


@pytest.mark.parametrize("query", QUERIES, ids=[query_id(q) for q in QUERIES])
def test_dashboard_query_returns_data(scraped: Scraped, query: DashboardQuery) -> None:
    expr = scraped.substitute(query.expr)
    result = scraped.prometheus.query(expr, at=scraped.at)
    assert result, f"no data: {expr}"
    values = [float(sample["value"][1]) for sample in result]
    assert any(math.isfinite(v) for v in values), f"only NaN/Inf: {expr} -> {result}"


METRIC_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


def metric_names() -> list[str]:
    """Every metric name the dashboards select (a name followed by a label selector)."""
    names = {m for q in QUERIES for m in METRIC_NAME.findall(q.expr)}
    names |= {m for q in QUERIES for m in re.findall(r"\(([a-zA-Z_:][\w:]*)\)\s*$", q.expr)}
    return sorted(names)


@pytest.mark.parametrize("metric", metric_names())
def test_every_metric_a_dashboard_names_is_exported(scraped: Scraped, metric: str) -> None:
    result: list[dict[str, Any]] = scraped.prometheus.query(f'count({{__name__="{metric}"}})', at=scraped.at)
    assert result, f"nobody exports {metric}"


def test_both_servers_are_side_by_side_under_one_model(scraped: Scraped) -> None:
    expr = f'count by (server, model_name) (vllm:generation_tokens_total{{model_name="{MODEL}"}})'
    result = scraped.prometheus.query(expr, at=scraped.at)
    assert {r["metric"]["server"] for r in result} == {"vllm", "hf"}
