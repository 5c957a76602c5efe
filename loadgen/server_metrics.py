"""The servers' own view of each level: `/metrics` scraped at an interval, kept, and turned into deltas.

vLLM, the HF server and the scripted server all export vLLM's metric names (docs/architecture.md), so
one reader serves all three. `ServerMetricsRecorder` scrapes every target's `/metrics` from a thread
of its own (network waits and parsing stay off the load generator's event loop) every `interval_s`
and appends each scrape, compacted to the `vllm:` series below, as one line of
`server-metrics-<target>.jsonl` in the run directory. When a level ends, `level_done` scrapes once
more, writes that scrape with the level's label and window, and returns the level's server view:
the deltas of the histograms between the last scrape before the level's first send and that final
one (mean and interpolated percentiles of server-side TTFT, queue time and E2E), the peak of the
running/waiting gauges, and the client's figures over the same requests (warm-up included, since
the server cannot tell them apart), so the two can be set side by side.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from loadgen.record import RequestRecord, records_window
from loadgen.run_config import Target

HISTOGRAMS: Mapping[str, str] = {
    "vllm:time_to_first_token_seconds": "ttft",
    "vllm:request_queue_time_seconds": "queue",
    "vllm:e2e_request_latency_seconds": "e2e",
}
GAUGES: Mapping[str, str] = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
}
COUNTERS: Mapping[str, str] = {
    "vllm:prompt_tokens_total": "prompt_tokens",
    "vllm:generation_tokens_total": "generation_tokens",
    "vllm:request_success_total": "success",
}
SCRAPE_TIMEOUT_S = 5.0
_LE = re.compile(r'le="([^"]+)"')
_NAME = re.compile(r"[^{ ]+")

Snapshot = dict[str, Any]
"""One scrape, compacted: `{"h": {short: {"sum", "count", "le", "cum"}}, "g": {...}, "c": {...}}`."""


def _value(line: str) -> float | None:
    try:
        return float(line.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return None


def parse_metrics(text: str) -> Snapshot:
    """The kept `vllm:` series of a Prometheus text page, summed over label sets (engines, models)."""
    hist: dict[str, dict[str, Any]] = {}
    buckets: dict[str, dict[float, float]] = {}
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        name, value = _NAME.match(line).group(0), _value(line)  # type: ignore[union-attr]  # "vllm:" matched
        if value is None or math.isnan(value):
            continue
        base, _, part = name.rpartition("_")
        if base in HISTOGRAMS:
            short = HISTOGRAMS[base]
            entry = hist.setdefault(short, {"sum": 0.0, "count": 0.0})
            if part == "bucket":
                le = _LE.search(line)
                if le and not math.isinf(bound := float(le.group(1))):  # +Inf is the count
                    slot = buckets.setdefault(short, {})
                    slot[bound] = slot.get(bound, 0.0) + value
            elif part in ("sum", "count"):
                entry[part] += value
        elif name in GAUGES:
            gauges[GAUGES[name]] = gauges.get(GAUGES[name], 0.0) + value
        elif name in COUNTERS:
            counters[COUNTERS[name]] = counters.get(COUNTERS[name], 0.0) + value
    for short, slot in buckets.items():
        bounds = sorted(slot)
        hist[short]["le"] = bounds
        hist[short]["cum"] = [slot[b] for b in bounds]
    return {"h": hist, "g": gauges, "c": counters}


def quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float], total: float) -> float | None:
    """Prometheus's `histogram_quantile`: linear within the bucket that holds rank `q * total`.

    `bounds` are the finite upper bounds; a rank beyond the last one gives that bound (as Prometheus).
    """
    if not bounds or total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            width = count - previous_count
            share = (rank - previous_count) / width if width > 0 else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


def histogram_delta(before: Snapshot, after: Snapshot, short: str) -> dict[str, Any] | None:
    """Count, mean and p50/p90/p99 (ms) of the observations a histogram took between two scrapes."""
    a, b = after["h"].get(short), before["h"].get(short, {"sum": 0.0, "count": 0.0})
    if a is None:
        return None
    count = a["count"] - b["count"]
    if count <= 0:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p90_ms": None, "p99_ms": None}
    out: dict[str, Any] = {"count": int(round(count)), "mean_ms": 1000 * (a["sum"] - b["sum"]) / count}
    bounds: list[float] = a.get("le") or []
    old = dict(zip(b.get("le") or [], b.get("cum") or [], strict=True))
    cum = [c - old.get(bound, 0.0) for bound, c in zip(bounds, a.get("cum") or [], strict=True)]
    for q in (50, 90, 99):
        value = quantile(q / 100, bounds, cum, count)
        out[f"p{q}_ms"] = None if value is None else 1000 * value
    return out


def client_view(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """The client's TTFT and E2E (ms) over the same requests the server counted (warm-up included)."""
    done = [r for r in records if r.ok]
    ttfts = sorted(r.ttft_ns / 1e6 for r in done if r.ttft_ns is not None)
    e2es = sorted(r.e2e_ns / 1e6 for r in done if r.e2e_ns is not None)

    def pick(values: list[float], q: float) -> float | None:
        return values[min(len(values) - 1, int(q * len(values)))] if values else None

    return {
        "requests": len(records),
        "succeeded": len(done),
        "ttft": {
            "mean_ms": sum(ttfts) / len(ttfts) if ttfts else None,
            "p50_ms": pick(ttfts, 0.5),
            "p90_ms": pick(ttfts, 0.9),
            "p99_ms": pick(ttfts, 0.99),
        },
        "e2e": {"mean_ms": sum(e2es) / len(e2es) if e2es else None, "p50_ms": pick(e2es, 0.5)},
    }


def level_view(
    window: Sequence[tuple[int, Snapshot]], records: Sequence[RequestRecord], interval_s: float
) -> dict[str, Any]:
    """The server view of one level from its scrapes (`window[0]` before the first send, last after)."""
    before, after = window[0][1], window[-1][1]
    return {
        "scrapes": len(window),
        "interval_s": interval_s,
        "server": {short: histogram_delta(before, after, short) for short in ("ttft", "queue", "e2e")}
        | {
            "peak_running": max((s["g"].get("running", 0.0) for _, s in window), default=None),
            "peak_waiting": max((s["g"].get("waiting", 0.0) for _, s in window), default=None),
            "generation_tokens": after["c"].get("generation_tokens", 0.0)
            - before["c"].get("generation_tokens", 0.0),
        },
        "client": client_view(records),
    }


@dataclass
class _TargetState:
    target: Target
    path: Path
    scrapes: list[tuple[int, Snapshot]] = field(default_factory=list)
    failures: int = 0
    last_error: str | None = None


def metrics_file_name(target: str) -> str:
    """`server-metrics-<target>.jsonl`."""
    return f"server-metrics-{re.sub(r'[^A-Za-z0-9_.=-]+', '_', target)}.jsonl"


class ServerMetricsRecorder:
    """Scrapes each target's `/metrics` every `interval_s` (a thread) and keeps a view per level."""

    def __init__(self, targets: Sequence[Target], directory: Path, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._states = {t.name: _TargetState(t, directory / metrics_file_name(t.name)) for t in targets}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=SCRAPE_TIMEOUT_S)

    def start(self) -> None:
        """Take a first scrape of each target and start the interval thread."""
        for state in self._states.values():
            self._scrape(state)
        self._thread = threading.Thread(target=self._loop, name="server-metrics", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for state in self._states.values():
                self._scrape(state)

    def _scrape(self, state: _TargetState, mark: Mapping[str, Any] | None = None) -> Snapshot | None:
        headers = {"Authorization": f"Bearer {state.target.api_key}"} if state.target.api_key else {}
        base = state.target.base_url.rstrip("/").removesuffix("/v1")
        try:
            response = self._client.get(base + "/metrics", headers=headers)
            response.raise_for_status()
            snapshot = parse_metrics(response.text)
        except (httpx.HTTPError, ValueError) as exc:
            with self._lock:
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
            return None
        stamp = time.perf_counter_ns()
        line = {"t_ns": stamp, "time": time.time(), **(mark or {}), **snapshot}
        with self._lock:
            state.scrapes.append((stamp, snapshot))
            try:
                with state.path.open("ab") as file:
                    file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
            except OSError:
                pass  # the scrape file is a side record: a full disk stops the run through requests.jsonl
        return snapshot

    def level_done(self, target: str, level: str, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        """Scrape once more and return the level's server view (None: no usable scrape before and after)."""
        state = self._states.get(target)
        window = records_window(records)
        if state is None or window is None:
            return None
        start_ns, end_ns = window
        mark = {"level": level, "start_ns": start_ns, "end_ns": end_ns}
        final = self._scrape(state, mark)
        with self._lock:
            before = [s for s in state.scrapes if s[0] <= start_ns]
            during = [s for s in state.scrapes if start_ns < s[0]]
            state.scrapes = state.scrapes[-1:]  # the final scrape is the next level's "before"
            failures, error = state.failures, state.last_error
        if final is None or not before:
            return {"error": error or "no scrape before the level", "failed_scrapes": failures}
        return level_view([before[-1], *during], records, self.interval_s) | {"failed_scrapes": failures}

    def close(self) -> None:
        """Stop the thread and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SCRAPE_TIMEOUT_S + self.interval_s)
        self._client.close()
