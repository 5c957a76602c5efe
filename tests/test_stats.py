"""The run summary against hand-built records whose every stamp is known."""

from __future__ import annotations

import math
import re

import pytest

from loadgen.record import RequestRecord
from loadgen.stats import METRIC_DEFINITIONS, SLO, concurrency, percentile_key, summarize

MS = 1_000_000


def record(
    index: int,
    send_ms: float,
    content_ms: list[float],
    end_ms: float | None,
    *,
    output_tokens: int | None = None,
    prompt_tokens: int | None = 10,
    scheduled_ms: float | None = None,
    warmup: bool = False,
    error_class: str | None = None,
    error_message: str | None = None,
    tokens_source: str | None = "usage",
) -> RequestRecord:
    """A record with stamps given in milliseconds from an arbitrary origin."""
    origin = 5_000_000_000  # perf_counter_ns values are not small; keep the arithmetic honest
    return RequestRecord(
        request_id=f"r{index}",
        target="sim",
        index=index,
        api="completions",
        stream=True,
        send_ns=origin + int(send_ms * MS),
        scheduled_ns=None if scheduled_ms is None else origin + int(scheduled_ms * MS),
        warmup=warmup,
        content_ns=[origin + int(t * MS) for t in content_ms],
        end_ns=None if end_ms is None else origin + int(end_ms * MS),
        error_class=error_class,
        error_message=error_message,
        output_tokens=len(content_ms) if output_tokens is None else output_tokens,
        prompt_tokens=prompt_tokens,
        tokens_source=tokens_source,
    )


# A: TTFT 100, gaps 10 10 10, E2E 130, 4 tokens -> TPOT 10.
# B: TTFT 200, gaps 20 20, E2E 250, 3 tokens -> TPOT 25.
A = record(0, 0, [100, 110, 120, 130], 130, prompt_tokens=10)
B = record(1, 1000, [1200, 1220, 1240], 1250, prompt_tokens=27)


def test_latency_distributions_follow_the_definitions() -> None:
    s = summarize([A, B], duration_s=2.0)
    assert s["mean_ttft_ms"] == pytest.approx(150)
    assert s["median_ttft_ms"] == pytest.approx(150)
    assert s["std_ttft_ms"] == pytest.approx(50)  # population std, as numpy and vLLM
    assert s["p99_ttft_ms"] == pytest.approx(199)  # linear interpolation between 100 and 200
    assert s["mean_tpot_ms"] == pytest.approx(17.5)
    assert s["mean_e2el_ms"] == pytest.approx(190)
    assert s["p90_e2el_ms"] == pytest.approx(130 + 0.9 * 120)


def test_itl_is_pooled_over_every_gap_not_averaged_per_request() -> None:
    s = summarize([A, B], duration_s=2.0)
    assert s["mean_itl_ms"] == pytest.approx(14)  # (10+10+10+20+20)/5; per-request means would give 15
    assert s["median_itl_ms"] == pytest.approx(10)
    assert s["p90_itl_ms"] == pytest.approx(20)


def test_throughputs_divide_totals_of_successful_requests_by_duration() -> None:
    s = summarize([A, B], duration_s=2.0)
    assert (s["completed"], s["failed"]) == (2, 0)
    assert s["total_input_tokens"] == 37
    assert s["total_output_tokens"] == 7
    assert s["request_throughput"] == pytest.approx(1.0)
    assert s["output_throughput"] == pytest.approx(3.5)
    assert s["total_token_throughput"] == pytest.approx(22.0)
    assert s["mean_output_tokens"] == pytest.approx(3.5)


def test_percentile_keys_use_vllm_names() -> None:
    s = summarize([A, B], duration_s=1.0, percentiles=(25, 99.9))
    assert percentile_key(99.9, "ttft") == "p99.9_ttft_ms"
    assert percentile_key(50.0, "itl") == "p50_itl_ms"
    assert s["p99.9_ttft_ms"] == pytest.approx(100 + 0.999 * 100)
    assert s["p25_tpot_ms"] == pytest.approx(10 + 0.25 * 15)
    assert "p99_ttft_ms" not in s


def test_percentiles_outside_0_to_100_are_rejected() -> None:
    with pytest.raises(ValueError, match="0..100"):
        summarize([A], duration_s=1.0, percentiles=(101,))


def test_warmup_records_are_left_out_of_every_figure() -> None:
    slow = record(2, 0, [5000, 5001], 5002, warmup=True)
    broken = record(3, 0, [], 10, warmup=True, error_class="timeout")
    assert summarize([A, B, slow, broken], duration_s=2.0) == summarize([A, B], duration_s=2.0)


def test_failed_requests_are_counted_and_classified_but_not_timed() -> None:
    cut = record(2, 0, [300, 900], 950, error_class="stream_cut", error_message="connection closed")
    cut2 = record(3, 0, [], 20, error_class="stream_cut", error_message="second message")
    refused = record(4, 0, [], 1, error_class="connect_error", error_message="refused", output_tokens=0)
    s = summarize([A, B, cut, cut2, refused], duration_s=2.0)
    assert (s["completed"], s["failed"]) == (2, 3)
    assert s["errors"] == {"stream_cut": 2, "connect_error": 1}
    assert s["error_examples"] == {"stream_cut": "connection closed", "connect_error": "refused"}
    assert s["mean_ttft_ms"] == pytest.approx(150)
    assert s["total_output_tokens"] == 7


def test_goodput_counts_requests_meeting_every_slo() -> None:
    assert summarize([A, B], duration_s=2.0)["request_goodput"] is None
    for items, expected in (
        (["ttft:150"], 0.5),
        (["ttft:200"], 1.0),
        (["tpot:20"], 0.5),
        (["itl:15"], 0.5),
        (["e2el:250"], 1.0),
        (["ttft:300", "e2el:200"], 0.5),
        (["ttft:50"], 0.0),
    ):
        s = summarize([A, B], duration_s=2.0, slo=SLO.parse(items))
        assert s["request_goodput"] == pytest.approx(expected), items


def test_failed_request_never_meets_an_slo() -> None:
    fast_but_failed = record(2, 0, [1, 2], 3, error_class="stream_cut")
    assert not SLO(ttft_ms=1000).met_by(fast_but_failed)
    assert SLO().met_by(A)


def test_single_token_request_meets_any_tpot_slo() -> None:
    one = record(2, 0, [50], 50)
    assert one.tpot_ns is None
    assert SLO(tpot_ms=0.001).met_by(one)


def test_slo_parse_reads_every_key() -> None:
    slo = SLO.parse(["ttft:500", "TPOT:50", "itl:75.5", "e2el:2000"])
    assert slo == SLO(ttft_ms=500, tpot_ms=50, itl_ms=75.5, e2el_ms=2000)
    assert SLO.parse([]).is_empty


@pytest.mark.parametrize("item", ["ttft", "ttft:", "ttft:abc", "latency:5", "ttft:-1", "ttft:0", "ttft:inf"])
def test_slo_parse_rejects_bad_items_with_one_line(item: str) -> None:
    with pytest.raises(ValueError) as info:
        SLO.parse([item])
    assert "\n" not in str(info.value)
    assert repr(item) in str(info.value)


def test_slo_parse_rejects_a_key_given_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        SLO.parse(["ttft:1", "ttft:2"])


def test_achieved_concurrency_is_time_weighted_in_flight_count() -> None:
    # in flight: [0,100] and [50,150] -> 1 for 50, 2 for 50, 1 for 50: mean 4/3 over 150 ms
    first = record(0, 0, [10], 100)
    second = record(1, 50, [60], 150)
    s = summarize([first, second], duration_s=0.15)
    assert s["achieved_concurrency"] == pytest.approx(4 / 3)
    assert s["max_concurrent_requests"] == 2


def test_achieved_concurrency_counts_from_send_not_from_scheduled_time() -> None:
    late = record(0, 40, [50], 100, scheduled_ms=0)
    other = record(1, 0, [10], 40)
    s = summarize([late, other], duration_s=0.1)
    assert s["max_concurrent_requests"] == 1  # the first ends as the second is sent
    assert s["achieved_concurrency"] == pytest.approx(1.0)


def test_concurrency_of_back_to_back_intervals_never_exceeds_one() -> None:
    mean, peak = concurrency([(0, 10), (10, 20), (20, 30)])
    assert (mean, peak) == (pytest.approx(1.0), 1)
    assert concurrency([]) == (0.0, 0)


def test_open_loop_latency_counts_from_scheduled_time_and_reports_queue_delay() -> None:
    late = record(0, 5, [105, 115], 115, scheduled_ms=0)
    on_time = record(1, 200, [300, 310], 310, scheduled_ms=200)
    s = summarize([late, on_time], duration_s=1.0)
    assert s["mean_ttft_ms"] == pytest.approx(102.5)
    assert s["mean_queue_delay_ms"] == pytest.approx(2.5)
    assert s["p99_queue_delay_ms"] == pytest.approx(0.99 * 5)


def test_tokens_source_is_counted_per_successful_request() -> None:
    counted = record(2, 0, [10, 20], 20, tokens_source="tokenizer")
    unknown = record(3, 0, [10, 20], 20, tokens_source=None)
    s = summarize([A, B, counted, unknown], duration_s=1.0)
    assert s["tokens_source"] == {"usage": 2, "tokenizer": 1, "unknown": 1}


def test_missing_prompt_tokens_fall_back_to_expected_count() -> None:
    guessed = record(2, 0, [10, 20], 20, prompt_tokens=None)
    guessed.expected_prompt_tokens = 64
    assert summarize([guessed], duration_s=1.0)["total_input_tokens"] == 64


def test_empty_run_gives_zeros_and_nones_without_crashing() -> None:
    s = summarize([], duration_s=0.0, slo=SLO(ttft_ms=1))
    assert (s["completed"], s["failed"], s["request_throughput"], s["request_goodput"]) == (0, 0, 0.0, 0.0)
    assert s["mean_ttft_ms"] is None and s["p99_itl_ms"] is None and s["mean_queue_delay_ms"] is None
    assert (s["achieved_concurrency"], s["max_concurrent_requests"]) == (0.0, 0)
    assert s["errors"] == {} and s["tokens_source"] == {}


def test_only_failures_gives_no_latency_but_counts_errors() -> None:
    s = summarize([record(0, 0, [], 5, error_class="http_5xx", error_message="500")], duration_s=1.0)
    assert s["completed"] == 0 and s["errors"] == {"http_5xx": 1}
    assert s["mean_e2el_ms"] is None and s["mean_output_tokens"] is None


def test_summary_states_a_definition_for_every_metric() -> None:
    s = summarize([A, B], duration_s=1.0)
    assert s["metric_definitions"] == METRIC_DEFINITIONS
    for name in (
        "ttft",
        "itl",
        "tpot",
        "e2el",
        "request_throughput",
        "request_goodput",
        "output_throughput",
        "total_token_throughput",
        "achieved_concurrency",
        "queue_delay",
        "max_concurrent_requests",
    ):
        assert METRIC_DEFINITIONS[name].endswith(".")
    assert "(E2E - TTFT) / (output tokens - 1)" in METRIC_DEFINITIONS["tpot"]
    settings = {"slo", "percentiles", "metric_definitions", "error_examples"}
    for key in set(s) - settings:
        base = re.sub(r"^(mean|median|std|p[0-9.]+)_(.*)_ms$", r"\2", key)
        assert base in METRIC_DEFINITIONS, key
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in s.values())


def test_max_output_tokens_per_s_counts_events_in_one_second_buckets() -> None:
    early = record(0, 0, [100, 200, 300], 300)  # 3 events in second 0
    late = record(1, 900, [1100, 1200, 1300, 1400], 1400)  # 4 in second 1
    overlap = record(2, 1000, [1500, 2500], 2500)  # 1 in second 1, 1 in second 2
    assert summarize([early, late, overlap], duration_s=3.0)["max_output_tokens_per_s"] == 5.0
    assert summarize([], duration_s=1.0)["max_output_tokens_per_s"] == 0.0


def test_drain_share_is_the_window_share_of_the_last_tenth_of_tokens() -> None:
    # Nine requests stream 10 tokens each over the first second; a tenth streams 10 over 10 s. The
    # 90th of the 100 tokens arrives at 1 s, so the last tenth takes 90% of the 10 s window.
    quick = [record(i, 0, [100.0 * k for k in range(1, 11)], 1000) for i in range(9)]
    slow = record(9, 0, [1000.0 * k for k in range(1, 11)], 10_000)
    s = summarize([*quick, slow], duration_s=10.0)
    assert s["drain_share"] == pytest.approx(0.9)
    assert s["output_throughput_before_drain"] == pytest.approx(90 / 1.0)
    assert s["output_throughput"] == pytest.approx(10.0)


def test_a_steady_stream_has_a_tenth_of_its_window_as_drain() -> None:
    steady = record(0, 0, [100.0 * k for k in range(1, 101)], 10_000)
    s = summarize([steady], duration_s=10.0)
    assert s["drain_share"] == pytest.approx(0.1)
    assert s["output_throughput_before_drain"] == pytest.approx(10.0)


def test_drain_spreads_a_request_s_tokens_over_its_content_events() -> None:
    # Two events carrying 100 tokens (a server that streams chunks): 50 an event, at 1 s and 2 s. A
    # second request's 10 one-token events fill 0.1-1.0 s. The 99th of the 110 tokens arrives at 2 s
    # (counting events instead, the 11th of 12 would arrive at 1 s).
    chunked = record(0, 0, [1000, 2000], 2000, output_tokens=100)
    single = record(1, 0, [100.0 * k for k in range(1, 11)], 1000)
    s = summarize([chunked, single], duration_s=4.0)
    assert s["drain_share"] == pytest.approx(1 - 2.0 / 4.0)
    assert s["output_throughput_before_drain"] == pytest.approx(99 / 2.0)


def test_drain_is_none_without_streamed_tokens() -> None:
    s = summarize([record(0, 0, [], 5, error_class="http_5xx")], duration_s=1.0)
    assert s["drain_share"] is None and s["output_throughput_before_drain"] is None
