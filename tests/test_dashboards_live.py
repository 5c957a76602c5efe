"""Every dashboard query against a real Prometheus scraping the real servers and clients.

A real Prometheus, running the repo's scrape configuration with local ports, scrapes a vLLM (CPU)
server, the HF server, the load generator (`loadgen run --metrics-port`, driving vLLM) and a locust
process (web UI `/metrics`, driving the HF server) while a short load runs. Every expression of every
panel and variable is then evaluated, template variables filled in as Grafana would, at one moment
inside the load: each must return at least one finite value, and every metric a dashboard names must
be exported by someone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.procs import REPO_ROOT, ServerProcess, free_port, run_server, stop_process
from tests.fixtures.prometheus import (
    DashboardQuery,
    PrometheusFactory,
    Scraped,
    dashboard_metric_names,
    dashboard_queries,
    query_problem,
    scraped_since,
    wait_until_ready,
)

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"
VALUES = {"model": MODEL, "server": "vllm|hf", "target": "vllm|hf"}
LOAD_LIMIT_S = 600.0
"""Each load process is stopped by the test once Prometheus holds what it needs; this only bounds it."""
READY_TIMEOUT_S = 300.0
"""Generous: on a quiet machine this takes well under a minute, but with other test suites sharing the
2 cores one CPU request of the HF server has taken over 100 s."""


def hostport(server: ServerProcess) -> str:
    return server.base_url.removeprefix("http://")


def loadgen_args(base_url: str, metrics_port: int, model_dir: Path, out: Path) -> list[str]:
    """`loadgen run` against vLLM, closed loop at 2, with live metrics on `metrics_port`."""
    return [
        sys.executable,
        "-m",
        "loadgen",
        "run",
        "--base-url",
        base_url,
        "--target-name",
        "vllm",
        "--model",
        MODEL,
        "--tokenizer",
        str(model_dir),
        "--input-len",
        "16",
        "--max-tokens",
        "8",
        "--concurrency",
        "2",
        "--duration",
        f"{LOAD_LIMIT_S:.0f}",
        "--num-prompts",
        "64",
        "--metrics-port",
        str(metrics_port),
        "--no-progress",
        "--output-dir",
        str(out),
    ]


def locust_args(base_url: str, web_port: int, model_dir: Path) -> list[str]:
    """locust with its web UI (for `/metrics`) started at once, 2 users against the HF server."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO_ROOT / "loadgen" / "locust" / "locustfile.py"),
        "--autostart",
        "-u",
        "2",
        "-r",
        "2",
        "--run-time",
        f"{LOAD_LIMIT_S:.0f}s",
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(web_port),
        "--host",
        base_url,
        "--target-name",
        "hf",
        "--model",
        MODEL,
        "--tokenizer",
        str(model_dir),
        "--input-len",
        "16",
        "--output-len",
        "8",
        "--max-tokens",
        "8",
        "--num-prompts",
        "64",
    ]


def wait_for_processes(prometheus: Any, processes: dict[str, ServerProcess]) -> float:
    """wait_until_ready, failing with a process's log as soon as one dies."""

    def check_alive() -> None:
        for name, proc in processes.items():
            if proc.process.poll() is not None:
                pytest.fail(
                    f"{name} exited with {proc.process.returncode} during the load:\n{proc.log_tail()}"
                )

    def logs() -> str:
        return "\n".join(f"--- {name}:\n{proc.log_tail(3000)}" for name, proc in processes.items())

    return wait_until_ready(prometheus, READY_TIMEOUT_S, check_alive, logs)


@pytest.fixture(scope="module")
def scraped(
    vllm_server: ServerProcess,
    hf_server: ServerProcess,
    smollm2_dir: Path,
    prometheus_factory: PrometheusFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scraped]:
    """Prometheus scraping both servers, loadgen and locust; the load is stopped once it has data."""
    folder = tmp_path_factory.mktemp("dashboards-live")
    loadgen_port, locust_port = free_port(), free_port()
    targets = {
        "vllm": hostport(vllm_server),
        "hf-server": hostport(hf_server),
        "loadgen": f"127.0.0.1:{loadgen_port}",
        "locust": f"127.0.0.1:{locust_port}",
    }
    loadgen_cmd = loadgen_args(vllm_server.base_url, loadgen_port, smollm2_dir, folder / "loadgen")
    locust_cmd = locust_args(hf_server.base_url, locust_port, smollm2_dir)
    with (
        prometheus_factory(targets) as prometheus,
        run_server(
            loadgen_cmd, loadgen_port, folder / "loadgen.log", health_path="/metrics", timeout_s=90
        ) as loadgen,
        run_server(
            locust_cmd, locust_port, folder / "locust.log", health_path="/metrics", timeout_s=90
        ) as locust,
    ):
        started = time.time()
        at = wait_for_processes(
            prometheus,
            {
                "loadgen": loadgen,
                "locust": locust,
                "vllm": vllm_server,
                "hf-server": hf_server,
                "prometheus": prometheus.server,
            },
        )
        stop_process(loadgen.process)
        stop_process(locust.process)
        yield scraped_since(prometheus, started, at, VALUES)


def query_id(query: DashboardQuery) -> str:
    return f"{query.dashboard.removesuffix('.json')}:{query.where}"


QUERIES = dashboard_queries()


@pytest.mark.parametrize("query", QUERIES, ids=[query_id(q) for q in QUERIES])
def test_dashboard_query_returns_data(scraped: Scraped, query: DashboardQuery) -> None:
    problem = query_problem(scraped, query)
    assert problem is None, problem


@pytest.mark.parametrize("metric", dashboard_metric_names(QUERIES))
def test_every_metric_a_dashboard_names_is_exported(scraped: Scraped, metric: str) -> None:
    result: list[dict[str, Any]] = scraped.prometheus.query(f'count({{__name__="{metric}"}})', at=scraped.at)
    assert result, f"nobody exports {metric}"


def test_both_servers_are_side_by_side_under_one_model(scraped: Scraped) -> None:
    expr = f'count by (server, model_name) (vllm:generation_tokens_total{{model_name="{MODEL}"}})'
    result = scraped.prometheus.query(expr, at=scraped.at)
    assert {r["metric"]["server"] for r in result} == {"vllm", "hf"}
