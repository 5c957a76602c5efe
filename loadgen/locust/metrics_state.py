"""Client-side Prometheus figures of a locust node, kept so they can be shipped and merged.

A worker's users observe finished requests into a `MetricsState`; the worker drains it into each
report to the master (`drain` returns the counts since the last report as plain JSON/msgpack
values and starts again from zero), and the master merges the reports into its own cumulative
state, from which `/metrics` is rendered. In a single process the users observe straight into the
state that `/metrics` reads. Bucket boundaries are vLLM's, from `loadgen.exporter`, and the
accounting matches the load generator's `LiveMetrics.observe`: every finished request is counted
by outcome and its tokens; latencies are observed for successful requests only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadgen.exporter import E2E_LATENCY_BUCKETS, TPOT_BUCKETS
from loadgen.record import RequestRecord
from servers.vllm.buckets import ITL_BUCKETS, TTFT_BUCKETS

NS_PER_S = 1e9

BUCKETS: dict[str, tuple[float, ...]] = {
    "ttft": TTFT_BUCKETS,
    "itl": ITL_BUCKETS,
    "tpot": TPOT_BUCKETS,
    "e2e": E2E_LATENCY_BUCKETS,
}
"""Histogram short name -> upper bounds (the `+Inf` bucket is implicit)."""


@dataclass
class HistogramCounts:
    """Per-bucket (not cumulative) counts, the last one for `+Inf`, and the sum of observed values."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count one value (bucket `le` semantics: a value equal to a bound falls in that bucket)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        """How many values were observed."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: (`le` label, cumulative count), ending with `+Inf`."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class MetricsState:
    """Histograms per (metric, target), request counts per (target, outcome), token counts per target."""

    def __init__(self) -> None:
        self.histograms: dict[tuple[str, str], HistogramCounts] = {}
        self.requests: dict[tuple[str, str], int] = {}
        self.prompt_tokens: dict[str, int] = {}
        self.output_tokens: dict[str, int] = {}

    def _reset(self) -> None:
        self.histograms, self.requests, self.prompt_tokens, self.output_tokens = {}, {}, {}, {}

    def _histogram(self, metric: str, target: str) -> HistogramCounts:
        key = (metric, target)
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = HistogramCounts(BUCKETS[metric])
        return histogram

    def observe(self, record: RequestRecord) -> None:
        """Account for one finished request."""
        target = record.target
        outcome = "success" if record.ok else (record.error_class or "unknown")
        self.requests[(target, outcome)] = self.requests.get((target, outcome), 0) + 1
        self.prompt_tokens[target] = self.prompt_tokens.get(target, 0) + (record.prompt_tokens or 0)
        self.output_tokens[target] = self.output_tokens.get(target, 0) + (record.output_tokens or 0)
        if not record.ok:
            return
        ttft, e2e, tpot = record.ttft_ns, record.e2e_ns, record.tpot_ns
        if ttft is not None:
            self._histogram("ttft", target).observe(ttft / NS_PER_S)
        if e2e is not None:
            self._histogram("e2e", target).observe(e2e / NS_PER_S)
        if tpot is not None:
            self._histogram("tpot", target).observe(tpot / NS_PER_S)
        gaps = record.itls_ns
        if gaps:
            itl = self._histogram("itl", target)
            for gap in gaps:
                itl.observe(gap / NS_PER_S)

    def targets(self) -> Iterator[str]:
        """Every target seen, in a stable order."""
        seen = {target for target, _ in self.requests} | {target for _, target in self.histograms}
        yield from sorted(seen)

    def drain(self) -> dict[str, Any]:
        """Everything counted since the last drain, as plain values, and start again from zero."""
        out = {
            "histograms": [
                [metric, target, h.counts, h.total] for (metric, target), h in self.histograms.items()
            ],
            "requests": [[target, outcome, n] for (target, outcome), n in self.requests.items()],
            "prompt_tokens": dict(self.prompt_tokens),
            "output_tokens": dict(self.output_tokens),
        }
        self._reset()  # in place: users hold a reference to this object
        return out

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add a drained state (from a worker's report) to this one."""
        for metric, target, counts, total in data.get("histograms", []):
            if metric not in BUCKETS:
                continue
            histogram = self._histogram(metric, target)
            if len(counts) != len(histogram.counts):
                continue  # a worker with other bucket bounds: skip rather than mislabel
            histogram.counts = [a + b for a, b in zip(histogram.counts, counts, strict=True)]
            histogram.total += total
        for target, outcome, n in data.get("requests", []):
            self.requests[(target, outcome)] = self.requests.get((target, outcome), 0) + n
        for name in ("prompt_tokens", "output_tokens"):
            mine: dict[str, int] = getattr(self, name)
            for target, n in data.get(name, {}).items():
                mine[target] = mine.get(target, 0) + n
