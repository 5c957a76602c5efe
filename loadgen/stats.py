"""The run summary: metric definitions, SLOs and goodput, with `vllm bench serve` field names.

Every latency comes from the `RequestRecord` properties (one definition, in `loadgen/record.py`);
this module only aggregates them. Percentiles use numpy's linear interpolation, as vLLM does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from loadgen.record import RequestRecord

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

DRAIN_QUANTILE = 0.9
"""Output tokens before the drain; the last tenth of them measures how long the level took to drain."""

METRIC_DEFINITIONS: dict[str, str] = {
    "duration": "The measured window in seconds that the throughputs divide by.",
    "completed": "Measured requests that finished without an error (warm-up requests are left out).",
    "failed": "Measured requests that ended with an error, each with one error class.",
    "total_input_tokens": (
        "Prompt tokens of successful requests (server-reported, else the workload's own count)."
    ),
    "total_output_tokens": "Output tokens of successful requests.",
    "mean_output_tokens": "Output tokens per successful request, on average.",
    "ttft": (
        "Time to first token: from the request's start (the scheduled time in open loop, else the send "
        "time) to the arrival of the first byte of the first event carrying generated text; a role-only "
        "first chunk does not count."
    ),
    "itl": (
        "Inter-token latency: the gap between the arrivals of successive content-bearing events, "
        "pooled over all gaps of all successful requests (per chunk, as vLLM reports it)."
    ),
    "tpot": (
        "Time per output token: per successful request with at least 2 output tokens, "
        "(E2E - TTFT) / (output tokens - 1)."
    ),
    "e2el": "End-to-end latency: from the request's start to the end of its response.",
    "queue_delay": (
        "Client-side queueing delay: time between a request's scheduled send and its actual send "
        "(open loop only; 0 in closed loop)."
    ),
    "request_throughput": "Successful requests per second of the run's duration.",
    "request_goodput": "Successful requests that met every given SLO, per second of the run's duration.",
    "output_throughput": "Output tokens of successful requests per second of the run's duration.",
    "total_token_throughput": (
        "Prompt plus output tokens of successful requests per second of the run's duration."
    ),
    "achieved_concurrency": (
        "Time-weighted mean number of requests in flight (from send to end of response) over the "
        "span from the first send to the last end of the measured requests."
    ),
    "max_concurrent_requests": (
        "Peak number of requests in flight at the same instant (from send to end of response); vLLM "
        "counts requests active in any part of a one-second bucket, which can read higher."
    ),
    "max_output_tokens_per_s": (
        "Most content events (tokens, when the server streams one per event) of successful requests "
        "arriving within one one-second bucket counted from the first request's start, as vLLM does."
    ),
    "drain_share": (
        f"Share of the measured window spent delivering the last {100 * (1 - DRAIN_QUANTILE):.0f}% of "
        "the output tokens (a request's tokens spread evenly over its content events): about that "
        "share in a steady level, more when a finite set of requests drains and its longest ones run "
        "on with few others, which lowers the whole window's throughput."
    ),
    "output_throughput_before_drain": (
        f"The first {100 * DRAIN_QUANTILE:.0f}% of the output tokens per second of the time from the "
        "window's start until they had arrived: the throughput without the drain."
    ),
    "samples": (
        "Values each latency distribution was computed from (requests for TTFT, TPOT and E2E; gaps "
        "for ITL): a percentile with fewer than 20 of them beyond it is marked in reports."
    ),
    "errors": "Failed requests per error class; `error_examples` holds the first message of each class.",
    "tokens_source": (
        "Where output token counts came from: `usage` (server-reported), `tokenizer` (counted by the "
        "client, a flagged fallback) or `events` (one token per content event)."
    ),
}
"""One-sentence definition of every metric the summary reports, keyed by the metric's short name."""

_SLO_KEYS = {"ttft": "ttft_ms", "tpot": "tpot_ms", "itl": "itl_ms", "e2el": "e2el_ms"}


@dataclass(frozen=True)
class SLO:
    """Service-level objectives in milliseconds; a request meets the SLO when it meets every one set.

    TTFT, TPOT and E2E are per request; the ITL objective applies to every gap of the request (its
    largest gap must not exceed it). A request with fewer than 2 output tokens has no TPOT and meets
    any TPOT objective, as in vLLM.
    """

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    itl_ms: float | None = None
    e2el_ms: float | None = None

    @classmethod
    def parse(cls, items: Sequence[str]) -> SLO:
        """Build an SLO from items like `ttft:500`, `tpot:50`, `itl:100`, `e2el:2000` (milliseconds)."""
        values: dict[str, float] = {}
        for item in items:
            key, sep, raw = item.partition(":")
            key = key.strip().lower()
            if not sep or key not in _SLO_KEYS:
                raise ValueError(
                    f"bad SLO {item!r}: expected KEY:MILLISECONDS with KEY one of {', '.join(_SLO_KEYS)}"
                )
            try:
                value = float(raw)
            except ValueError:
                message = f"bad SLO {item!r}: {raw.strip()!r} is not a number of milliseconds"
                raise ValueError(message) from None
            if not value > 0 or value == float("inf"):
                raise ValueError(f"bad SLO {item!r}: the limit must be a positive, finite number of ms")
            if _SLO_KEYS[key] in values:
                raise ValueError(f"bad SLO {item!r}: {key} is given twice")
            values[_SLO_KEYS[key]] = value
        return cls(**values)

    @property
    def is_empty(self) -> bool:
        """True when no objective is set."""
        return all(value is None for value in asdict(self).values())

    def met_by(self, record: RequestRecord) -> bool:
        """True when `record` succeeded and meets every objective that is set."""
        if not record.ok:
            return False
        ttft, e2e = record.ttft_ns, record.e2e_ns
        if self.ttft_ms is not None and (ttft is None or ttft > self.ttft_ms * NS_PER_MS):
            return False
        if self.e2el_ms is not None and (e2e is None or e2e > self.e2el_ms * NS_PER_MS):
            return False
        tpot = record.tpot_ns
        if self.tpot_ms is not None and tpot is not None and tpot > self.tpot_ms * NS_PER_MS:
            return False
        itls = record.itls_ns
        return not (self.itl_ms is not None and itls and max(itls) > self.itl_ms * NS_PER_MS)


def percentile_key(p: float, metric: str) -> str:
    """vLLM's key for a percentile: `p99_ttft_ms`, `p99.9_ttft_ms`."""
    word = str(int(p)) if float(p).is_integer() else str(p)
    return f"p{word}_{metric}_ms"


def _distribution(metric: str, values_ms: Sequence[float], percentiles: Sequence[float]) -> dict[str, Any]:
    """mean/median/std and the percentiles of one metric, in ms (None for every key when empty)."""
    out: dict[str, Any] = {}
    array = np.asarray(values_ms, dtype=np.float64)
    empty = array.size == 0
    out[f"mean_{metric}_ms"] = None if empty else float(np.mean(array))
    out[f"median_{metric}_ms"] = None if empty else float(np.median(array))
    out[f"std_{metric}_ms"] = None if empty else float(np.std(array))
    for p in percentiles:
        out[percentile_key(p, metric)] = None if empty else float(np.percentile(array, p))
    return out


def concurrency(intervals: Iterable[tuple[int, int]]) -> tuple[float, int]:
    """Time-weighted mean and peak of the number of open intervals, over first start to last end.

    Intervals are (start_ns, end_ns); an interval that ends where another starts does not overlap it,
    and an empty one (end <= start) is never in flight.
    """
    events: list[tuple[int, int]] = []
    for start, end in intervals:
        if end > start:
            events.append((start, 1))
            events.append((end, -1))
    if not events:
        return 0.0, 0
    events.sort()  # at equal stamps, ends (-1) sort before starts (+1)
    first, last = events[0][0], events[-1][0]
    area = 0
    level = peak = 0
    previous = first
    for stamp, step in events:
        area += level * (stamp - previous)
        previous = stamp
        level += step
        peak = max(peak, level)
    span = last - first
    return (area / span if span > 0 else float(peak)), peak


def peak_events_per_second(records: Sequence[RequestRecord]) -> float:
    """The most content events landing in one one-second bucket, buckets counted from the first start."""
    if not records:
        return 0.0
    origin = min(record.start_ns for record in records)
    stamps = np.fromiter((t for record in records for t in record.content_ns), dtype=np.int64)
    if stamps.size == 0:
        return 0.0
    seconds = (stamps - origin) // NS_PER_S
    return float(np.bincount(seconds[seconds >= 0]).max(initial=0))


def drain(records: Sequence[RequestRecord], duration_s: float) -> tuple[float | None, float | None]:
    """(`drain_share`, `output_throughput_before_drain`) of successful `records` over a window of
    `duration_s` from their first start; (None, None) when they hold no streamed tokens."""
    stamps: list[int] = []
    weights: list[float] = []
    for record in records:
        if record.content_ns and record.output_tokens:
            stamps.extend(record.content_ns)
            weights.extend([record.output_tokens / len(record.content_ns)] * len(record.content_ns))
    if not stamps or duration_s <= 0:
        return None, None
    order = np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable")
    arrived = np.cumsum(np.asarray(weights)[order])
    reached = int(np.searchsorted(arrived, DRAIN_QUANTILE * arrived[-1] - 1e-9))
    origin = min(record.start_ns for record in records)
    before_s = (stamps[int(order[reached])] - origin) / NS_PER_S
    share = min(1.0, max(0.0, 1 - before_s / duration_s))
    return share, (DRAIN_QUANTILE * float(arrived[-1]) / before_s if before_s > 0 else None)


def _ms(values: Iterable[float]) -> list[float]:
    return [value / NS_PER_MS for value in values]


def summarize(
    records: Sequence[RequestRecord],
    *,
    duration_s: float,
    percentiles: Sequence[float] = (50, 90, 95, 99),
    slo: SLO | None = None,
) -> dict[str, Any]:
    """Summarize one run: counts, throughputs, latency distributions, goodput, errors, definitions.

    Warm-up records are left out. Latency distributions and token totals cover successful requests
    only (as `vllm bench serve`); concurrency and queueing delay cover every measured request.
    """
    bad = [p for p in percentiles if not 0 <= p <= 100]
    if bad:
        raise ValueError(f"percentiles must lie in 0..100, got {bad}")
    measured = [record for record in records if not record.warmup]
    done = [record for record in measured if record.ok]
    failed = [record for record in measured if not record.ok]

    input_tokens = sum(_prompt_tokens(record) for record in done)
    output_tokens = sum(record.output_tokens or 0 for record in done)

    def per_second(count: float) -> float:
        return count / duration_s if duration_s > 0 else 0.0

    summary: dict[str, Any] = {
        "duration": duration_s,
        "completed": len(done),
        "failed": len(failed),
        "total_input_tokens": input_tokens,
        "total_output_tokens": output_tokens,
        "request_throughput": per_second(len(done)),
        "request_goodput": None,
        "output_throughput": per_second(output_tokens),
        "total_token_throughput": per_second(input_tokens + output_tokens),
    }
    if slo is not None:
        summary["request_goodput"] = per_second(sum(1 for record in done if slo.met_by(record)))
    summary["slo"] = None if slo is None else {k: v for k, v in asdict(slo).items() if v is not None}

    intervals = [(r.send_ns, r.end_ns) for r in measured if r.end_ns is not None]
    achieved, peak = concurrency(intervals)
    summary["max_concurrent_requests"] = peak
    summary["achieved_concurrency"] = achieved
    summary["max_output_tokens_per_s"] = peak_events_per_second(done)
    summary["drain_share"], summary["output_throughput_before_drain"] = drain(done, duration_s)

    ttfts = [t for t in (r.ttft_ns for r in done) if t is not None]
    tpots = [t for t in (r.tpot_ns for r in done) if t is not None]
    itls = [gap for r in done for gap in r.itls_ns]
    e2els = [t for t in (r.e2e_ns for r in done) if t is not None]
    for metric, values in (("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)):
        summary.update(_distribution(metric, _ms(values), percentiles))
    summary["samples"] = {"ttft": len(ttfts), "tpot": len(tpots), "itl": len(itls), "e2el": len(e2els)}

    delays = _ms(r.queue_delay_ns for r in measured)
    summary["mean_queue_delay_ms"] = float(np.mean(delays)) if delays else None
    summary["p99_queue_delay_ms"] = float(np.percentile(delays, 99)) if delays else None

    summary["mean_output_tokens"] = output_tokens / len(done) if done else None
    summary["tokens_source"] = dict(Counter(r.tokens_source or "unknown" for r in done))
    summary["errors"], summary["error_examples"] = _errors(failed)
    summary["percentiles"] = [float(p) for p in percentiles]
    summary["metric_definitions"] = dict(METRIC_DEFINITIONS)
    return summary


def _prompt_tokens(record: RequestRecord) -> int:
    if record.prompt_tokens is not None:
        return record.prompt_tokens
    return record.expected_prompt_tokens or 0


def _errors(failed: Sequence[RequestRecord]) -> tuple[dict[str, int], dict[str, str]]:
    """Count of failed requests per error class, and the first message seen for each class."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for record in failed:
        error_class = record.error_class or "unknown"
        counts[error_class] += 1
        if error_class not in examples and record.error_message:
            examples[error_class] = record.error_message
    return dict(counts), examples
