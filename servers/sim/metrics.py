"""vLLM's Prometheus metrics (same names, `model_name` label, same bucket boundaries), kept cheaply.

prometheus_client takes a lock and a bucket search per observation; at hundreds of thousands of
tokens a second that is a large share of one core, so these are plain counters rendered to the text
exposition format on demand.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from servers.vllm.buckets import ITL_BUCKETS, REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS

FINISHED_REASONS: tuple[str, ...] = ("stop", "length", "abort", "error")


class Histogram:
    """A cumulative-on-render histogram over fixed upper bounds (seconds)."""

    __slots__ = ("name", "help", "bounds", "_bounds_ns", "counts", "sum_ns", "count")

    def __init__(self, name: str, help_text: str, bounds: tuple[float, ...]) -> None:
        self.name = name
        self.help = help_text
        self.bounds = bounds
        self._bounds_ns = [round(b * 1e9) for b in bounds]
        self.counts = [0] * (len(bounds) + 1)
        self.sum_ns = 0
        self.count = 0

    def observe_ns(self, value_ns: int) -> None:
        """Count one value in nanoseconds."""
        self.counts[bisect_left(self._bounds_ns, value_ns)] += 1
        self.sum_ns += value_ns
        self.count += 1

    def observe_many_ns(self, values_ns: Iterable[int]) -> None:
        """Count many values in nanoseconds."""
        counts, bounds = self.counts, self._bounds_ns
        total = n = 0
        for value in values_ns:
            counts[bisect_left(bounds, value)] += 1
            total += value
            n += 1
        self.sum_ns += total
        self.count += n

    def render(self, labels: str) -> list[str]:
        """Exposition-format lines."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            lines.append(f'{self.name}_bucket{{{labels},le="{bound}"}} {running}')
        lines.append(f'{self.name}_bucket{{{labels},le="+Inf"}} {self.count}')
        lines.append(f"{self.name}_count{{{labels}}} {self.count}")
        lines.append(f"{self.name}_sum{{{labels}}} {self.sum_ns / 1e9}")
        return lines


class SimMetrics:
    """The server's metrics under vLLM's names."""

    def __init__(self, model: str) -> None:
        escaped = model.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        self.labels = f'model_name="{escaped}"'
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS
        )
        self.itl = Histogram(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ITL_BUCKETS
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            REQUEST_LATENCY_BUCKETS,
        )
        self.queue = Histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            REQUEST_LATENCY_BUCKETS,
        )
        self.running = 0
        self.waiting = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success: dict[str, int] = dict.fromkeys(FINISHED_REASONS, 0)

    def render(self) -> bytes:
        """The whole `/metrics` page."""
        labels = self.labels
        lines: list[str] = []
        for name, help_text, value in (
            ("vllm:num_requests_running", "Number of requests in model execution batches.", self.running),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", self.waiting),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{{{labels}}} {value}"]
        for name, help_text, value in (
            ("vllm:prompt_tokens", "Number of prefill tokens processed.", self.prompt_tokens),
            ("vllm:generation_tokens", "Number of generation tokens processed.", self.generation_tokens),
        ):
            lines += [  # as prometheus_client (and so vLLM) writes counters in text format 0.0.4
                f"# HELP {name}_total {help_text}",
                f"# TYPE {name}_total counter",
                f"{name}_total{{{labels}}} {value}",
            ]
        name = "vllm:request_success_total"
        lines += [f"# HELP {name} Count of successfully processed requests.", f"# TYPE {name} counter"]
        for reason, value in self.success.items():
            lines.append(f'{name}{{{labels},finished_reason="{reason}"}} {value}')
        for histogram in (self.ttft, self.itl, self.e2e, self.queue):
            lines += histogram.render(labels)
        return ("\n".join(lines) + "\n").encode()
