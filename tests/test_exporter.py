"""The live exporter, served over HTTP and read back with prometheus_client's text parser."""

from __future__ import annotations

import importlib.util
import runpy
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.exporter import E2E_LATENCY_BUCKETS, TPOT_BUCKETS, LiveMetrics
from loadgen.record import RequestRecord
from servers.vllm.buckets import ITL_BUCKETS, TTFT_BUCKETS
from tests.fixtures.procs import free_port

MS = 1_000_000


def _record(target: str, error_class: str | None = None) -> RequestRecord:
    # TTFT 30 ms, gaps 20 and 60 ms, E2E 110 ms, 3 tokens: TPOT 40 ms.
    return RequestRecord(
        request_id="x",
        target=target,
        index=0,
        api="completions",
        stream=True,
        send_ns=1_000 * MS,
        content_ns=[] if error_class else [1_030 * MS, 1_050 * MS, 1_110 * MS],
        end_ns=1_110 * MS,
        prompt_tokens=None if error_class else 12,
        output_tokens=0 if error_class else 3,
        error_class=error_class,
    )


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LiveMetrics, str]]:
    """One served instance for the module; each test uses targets of its own."""
    metrics = LiveMetrics()
    port = free_port()
    metrics.start_http_server(port)
    yield metrics, f"http://127.0.0.1:{port}/metrics"
    metrics.close()


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(url, timeout=5.0)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_finished_requests_fill_histograms_counters_and_gauges(live: tuple[LiveMetrics, str]) -> None:
    metrics, url = live
    for _ in range(3):
        metrics.request_started("vllm")
    metrics.request_started("hf")
    metrics.observe(_record("vllm"))
    metrics.observe(_record("vllm", error_class="http_5xx"))
    metrics.set_loop_lag(0.0025)
    got = _scrape(url)

    vllm = (("target", "vllm"),)
    assert got[("loadgen_requests_in_flight", vllm)] == 1
    assert got[("loadgen_requests_in_flight", (("target", "hf"),))] == 1
    assert got[("loadgen_requests_total", (("outcome", "success"), ("target", "vllm")))] == 1
    assert got[("loadgen_requests_total", (("outcome", "http_5xx"), ("target", "vllm")))] == 1
    assert got[("loadgen_prompt_tokens_total", vllm)] == 12
    assert got[("loadgen_output_tokens_total", vllm)] == 3
    assert got[("loadgen_event_loop_lag_seconds", vllm)] == 0.0025
    assert got[("loadgen_event_loop_lag_seconds", (("target", "hf"),))] == 0.0025

    # Failed requests are not timed: one observation each for TTFT/TPOT/E2E, two ITL gaps.
    assert got[("loadgen_time_to_first_token_seconds_count", vllm)] == 1
    assert got[("loadgen_time_to_first_token_seconds_sum", vllm)] == pytest.approx(0.030)
    assert got[("loadgen_inter_token_latency_seconds_count", vllm)] == 2
    assert got[("loadgen_inter_token_latency_seconds_sum", vllm)] == pytest.approx(0.080)
    assert got[("loadgen_time_per_output_token_seconds_sum", vllm)] == pytest.approx(0.040)
    assert got[("loadgen_e2e_request_latency_seconds_sum", vllm)] == pytest.approx(0.110)
    itl_le = {
        dict(labels)["le"]: value
        for (name, labels), value in got.items()
        if name == "loadgen_inter_token_latency_seconds_bucket" and dict(labels)["target"] == "vllm"
    }
    assert (itl_le["0.01"], itl_le["0.025"], itl_le["0.05"], itl_le["0.075"]) == (0, 1, 1, 2)


def test_histograms_use_the_bucket_boundaries_in_one_place(live: tuple[LiveMetrics, str]) -> None:
    metrics, url = live
    metrics.request_started("buckets")
    metrics.observe(_record("buckets"))
    got = _scrape(url)
    for name, buckets in (
        ("loadgen_time_to_first_token_seconds", TTFT_BUCKETS),
        ("loadgen_inter_token_latency_seconds", ITL_BUCKETS),
        ("loadgen_time_per_output_token_seconds", TPOT_BUCKETS),
        ("loadgen_e2e_request_latency_seconds", E2E_LATENCY_BUCKETS),
    ):
        bounds = sorted(
            float(dict(labels)["le"])
            for (sample, labels), _ in got.items()
            if sample == name + "_bucket" and dict(labels)["target"] == "buckets"
        )
        assert bounds == [*buckets, float("inf")], name


def test_in_flight_never_goes_negative(live: tuple[LiveMetrics, str]) -> None:
    metrics, url = live
    metrics.observe(_record("never-started"))
    assert _scrape(url)[("loadgen_requests_in_flight", (("target", "never-started"),))] == 0


def test_each_instance_has_its_own_registry() -> None:
    first, second = LiveMetrics(), LiveMetrics()
    first.request_started("t")
    assert second.registry.get_sample_value("loadgen_requests_in_flight", {"target": "t"}) is None
    assert first.registry.get_sample_value("loadgen_requests_in_flight", {"target": "t"}) == 1


def test_port_zero_serves_on_a_port_the_instance_reports() -> None:
    metrics = LiveMetrics()
    assert metrics.port is None
    metrics.start_http_server(0)
    try:
        assert metrics.port is not None and metrics.port > 0
        assert "loadgen_requests_in_flight" in httpx.get(f"http://127.0.0.1:{metrics.port}/metrics").text
    finally:
        metrics.close()
    assert metrics.port is None


def test_busy_port_gives_a_clear_error(live: tuple[LiveMetrics, str]) -> None:
    _, url = live
    port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
        LiveMetrics().start_http_server(port)


def test_buckets_match_the_installed_vllm() -> None:
    spec = importlib.util.find_spec("vllm")  # locates the package without importing it (slow)
    if spec is None or spec.origin is None:
        pytest.skip("vllm is not installed")
    source = Path(spec.origin).parent / "v1" / "metrics" / "buckets.py"
    vllm_buckets = runpy.run_path(str(source))
    assert vllm_buckets["TIME_TO_FIRST_TOKEN_BUCKETS"] == TTFT_BUCKETS
    assert vllm_buckets["INTER_TOKEN_LATENCY_BUCKETS"] == ITL_BUCKETS == TPOT_BUCKETS
    assert vllm_buckets["REQUEST_LATENCY_BUCKETS"] == E2E_LATENCY_BUCKETS


def test_loop_lag_is_shown_under_targets_that_appear_later() -> None:
    metrics = LiveMetrics()
    metrics.set_loop_lag(0.004)
    metrics.request_started("late")
    assert metrics.registry.get_sample_value("loadgen_event_loop_lag_seconds", {"target": "late"}) == 0.004
    metrics.set_loop_lag(0.001)
    assert metrics.registry.get_sample_value("loadgen_event_loop_lag_seconds", {"target": "late"}) == 0.001
