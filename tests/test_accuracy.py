"""Every metric definition checked against the scripted server's truth for the same requests.

The server stamps (same monotonic clock) when each request had fully arrived and when each token was
handed to its socket. A client cannot see a token before it was sent, nor send after the server had
the request, so measured TTFT and E2E must be at least the true ones, and only slightly more: these
bounds catch a wrong stamp (a role-only chunk taken for a token, a buffered read, a late send stamp)
without asserting machine-dependent exactness (that is measured in benchmarks/accuracy.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from loadgen.results import MemorySink
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import LevelResult, run_level
from loadgen.stats import SLO, concurrency
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import fetch_truth

MS = 1_000_000
SLACK_NS = 15 * MS
"""How late a client stamp may be on a busy shared CI machine."""
PROMPTS = [Prompt(text=f"prompt number {i}") for i in range(8)]


async def run(server: ServerProcess, api: str, concurrency: int = 4, n: int = 16, **kw: Any) -> LevelResult:
    target = Target(name="sim", base_url=server.base_url, model="sim-model")
    load = LoadSpec(mode="closed", concurrency=concurrency, num_requests=n)
    return await run_level(target, PROMPTS, load, RequestOptions(api=api, max_tokens=16), MemorySink(), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["completions", "chat"])
def measured(
    request: pytest.FixtureRequest, sim_server: ServerProcess
) -> Iterator[tuple[LevelResult, dict[str, Any]]]:
    import asyncio

    result = asyncio.run(run(sim_server, request.param, slo=SLO(ttft_ms=10_000)))
    truth = {t["request_id"]: t for t in fetch_truth(sim_server.base_url)}
    yield result, truth


def pairs(measured: tuple[LevelResult, dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    result, truth = measured
    out = [(r, truth[r.request_id]) for r in result.measured]
    assert len(out) == 16 and all(r.ok for r, _ in out)
    return out


def test_ttft_is_first_content_event_after_send(measured: tuple[LevelResult, dict[str, Any]]) -> None:
    for record, truth in pairs(measured):
        true_ttft = truth["first_token_ns"] - truth["received_ns"]
        assert record.ttft_ns is not None
        assert true_ttft <= record.ttft_ns <= true_ttft + SLACK_NS
        assert record.send_ns <= truth["received_ns"]
        assert record.content_ns[0] >= truth["first_token_ns"]


def test_every_token_event_is_stamped_and_itl_matches_truth(
    measured: tuple[LevelResult, dict[str, Any]],
) -> None:
    errors: list[float] = []
    for record, truth in pairs(measured):
        assert len(record.content_ns) == truth["output_tokens"] == record.output_tokens == 16
        assert record.tokens_source == "usage"
        assert all(c >= t for c, t in zip(record.content_ns, truth["token_ns"], strict=True))
        errors.extend(np.asarray(record.itls_ns) - np.diff(truth["token_ns"]))
    assert abs(float(np.mean(errors))) < 1 * MS


def test_tpot_and_e2e_match_truth(measured: tuple[LevelResult, dict[str, Any]]) -> None:
    for record, truth in pairs(measured):
        true_e2e = truth["end_ns"] - truth["received_ns"]
        assert record.e2e_ns is not None and true_e2e <= record.e2e_ns + 1 * MS <= true_e2e + SLACK_NS
        true_tpot = (truth["token_ns"][-1] - truth["first_token_ns"]) / (truth["output_tokens"] - 1)
        assert record.tpot_ns is not None and abs(record.tpot_ns - true_tpot) < SLACK_NS / 15


def test_throughput_is_completed_work_over_the_measured_window(
    measured: tuple[LevelResult, dict[str, Any]],
) -> None:
    result, _ = measured
    truths = [t for _, t in pairs(measured)]
    true_span_s = (max(t["end_ns"] for t in truths) - min(t["received_ns"] for t in truths)) / 1e9
    s = result.summary
    assert s["completed"] == 16 and s["failed"] == 0
    assert s["duration"] == pytest.approx(true_span_s, abs=0.02)
    assert s["request_throughput"] == pytest.approx(16 / s["duration"])
    assert s["total_output_tokens"] == sum(t["output_tokens"] for t in truths)
    assert s["output_throughput"] == pytest.approx(s["total_output_tokens"] / s["duration"])


def test_concurrency_achieved_is_the_closed_loop_level(measured: tuple[LevelResult, dict[str, Any]]) -> None:
    result, _ = measured
    truths = [t for _, t in pairs(measured)]
    _, server_peak = concurrency([(t["received_ns"], t["end_ns"]) for t in truths])
    assert server_peak == 4
    assert result.summary["max_concurrent_requests"] == 4
    assert result.summary["achieved_concurrency"] > 3.0
    assert result.selfcheck.achieved_in_flight is not None and result.selfcheck.achieved_in_flight > 3.5


def test_goodput_counts_requests_meeting_the_slo(measured: tuple[LevelResult, dict[str, Any]]) -> None:
    result, _ = measured
    assert result.summary["request_goodput"] == pytest.approx(result.summary["request_throughput"])
    ttfts = sorted(r.ttft_ns for r in result.measured if r.ttft_ns is not None)
    cut_ms = ttfts[7] / MS + 1e-6  # at least 8 of the 16 meet it
    slo = SLO(ttft_ms=cut_ms)
    met = sum(1 for r in result.measured if slo.met_by(r))
    assert 8 <= met < 16 or ttfts[8] == ttfts[7]


async def test_non_streamed_request_times_the_whole_body(sim_server: ServerProcess) -> None:
    target = Target(name="sim", base_url=sim_server.base_url, model="sim-model")
    load = LoadSpec(mode="closed", concurrency=2, num_requests=4)
    result = await run_level(target, PROMPTS, load, RequestOptions(stream=False, max_tokens=16), MemorySink())
    truth = {t["request_id"]: t for t in fetch_truth(sim_server.base_url)}
    for record in result.measured:
        t = truth[record.request_id]
        assert record.ok and record.output_tokens == 16 and len(record.content_ns) == 1
        assert record.e2e_ns is not None and record.e2e_ns >= t["end_ns"] - t["received_ns"]


class WordCounter:
    """A stand-in tokenizer: one token per whitespace-separated word."""

    def count(self, text: str) -> int:
        return len(text.split())


@pytest.mark.parametrize(("counter", "source"), [(None, "events"), (WordCounter(), "tokenizer")])
async def test_output_tokens_fall_back_when_the_server_sends_no_usage(
    sim_server: ServerProcess, counter: WordCounter | None, source: str
) -> None:
    target = Target(name="sim", base_url=sim_server.base_url, model="sim-model")
    load = LoadSpec(mode="closed", concurrency=1, num_requests=2)
    options = RequestOptions(max_tokens=16, include_usage=False, save_text=True)
    result = await run_level(target, PROMPTS, load, options, MemorySink(), token_counter=counter)
    for record in result.measured:
        assert record.ok and record.tokens_source == source
        expected = 16 if counter is None else len((record.output_text or "").split())
        assert record.output_tokens == expected
    assert result.summary["tokens_source"] == {source: 2}
