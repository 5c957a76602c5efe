"""The load generator's own live Prometheus metrics, labelled by target.

Names follow docs/architecture.md; histogram buckets are vLLM's for the same quantity (the
`*_BUCKETS` constants below, the one place they are kept), so client-side and server-side percentiles
line up on one dashboard. The cost per request is a few counter and histogram updates when it
finishes, plus one histogram observation per ITL gap.
Warm-up requests are counted too: these metrics show the traffic as it happens.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

from loadgen.record import RequestRecord
from servers.vllm.buckets import ITL_BUCKETS, REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS

NS_PER_S = 1e9

# The client's histograms use vLLM's boundaries for the same quantities (servers/vllm/buckets.py).
TPOT_BUCKETS: tuple[float, ...] = ITL_BUCKETS
E2E_LATENCY_BUCKETS: tuple[float, ...] = REQUEST_LATENCY_BUCKETS


class LiveMetrics:
    """Client-side request metrics in a registry of their own, served on `/metrics` when asked."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["target"]

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=self.registry)

        self.ttft = histogram(
            "loadgen_time_to_first_token_seconds",
            "Client-side time to first token: start to the first event carrying generated text.",
            TTFT_BUCKETS,
        )
        self.itl = histogram(
            "loadgen_inter_token_latency_seconds",
            "Client-side gap between successive content events.",
            ITL_BUCKETS,
        )
        self.tpot = histogram(
            "loadgen_time_per_output_token_seconds",
            "Client-side (E2E - TTFT) / (output tokens - 1), per request.",
            TPOT_BUCKETS,
        )
        self.e2e = histogram(
            "loadgen_e2e_request_latency_seconds",
            "Client-side end-to-end request latency: start to the end of the response.",
            E2E_LATENCY_BUCKETS,
        )
        self.requests = Counter(
            "loadgen_requests",
            "Finished requests by outcome (`success` or the error class).",
            ["target", "outcome"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "loadgen_prompt_tokens", "Prompt tokens of finished requests.", labels, registry=self.registry
        )
        self.output_tokens = Counter(
            "loadgen_output_tokens",
            "Output tokens received, failed requests' partial output included.",
            labels,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "loadgen_requests_in_flight",
            "Requests sent and not yet finished.",
            labels,
            registry=self.registry,
        )
        self.loop_lag = Gauge(
            "loadgen_event_loop_lag_seconds",
            "The generator's latest event-loop lag (one process-wide figure, shown under every target).",
            labels,
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._last_lag = 0.0
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start_http_server(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve this registry's `/metrics` on host:port from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the live metrics server is already running")
        try:
            self._server, self._thread = _start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve live metrics on {host}:{port}: {exc.strerror}") from None

    @property
    def port(self) -> int | None:
        """The port being served (useful after asking for port 0), or None when not serving."""
        return None if self._server is None else int(self._server.server_port)

    def close(self) -> None:
        """Stop the HTTP server, if one was started."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def _target_seen(self, target: str) -> None:
        if target not in self._in_flight:
            self._in_flight[target] = 0
            self.loop_lag.labels(target).set(self._last_lag)

    def request_started(self, target: str) -> None:
        """Count one more request in flight for `target`."""
        with self._lock:
            self._target_seen(target)
            self._in_flight[target] += 1
            self.in_flight.labels(target).set(self._in_flight[target])

    def observe(self, record: RequestRecord) -> None:
        """Account for a finished request: in-flight down, outcome and tokens counted, latencies observed."""
        target = record.target
        with self._lock:
            self._target_seen(target)
            self._in_flight[target] = max(0, self._in_flight[target] - 1)
            self.in_flight.labels(target).set(self._in_flight[target])
        self.requests.labels(target, "success" if record.ok else (record.error_class or "unknown")).inc()
        if record.prompt_tokens:
            self.prompt_tokens.labels(target).inc(record.prompt_tokens)
        if record.output_tokens:
            self.output_tokens.labels(target).inc(record.output_tokens)
        if not record.ok:
            return
        ttft, e2e, tpot = record.ttft_ns, record.e2e_ns, record.tpot_ns
        if ttft is not None:
            self.ttft.labels(target).observe(ttft / NS_PER_S)
        if e2e is not None:
            self.e2e.labels(target).observe(e2e / NS_PER_S)
        if tpot is not None:
            self.tpot.labels(target).observe(tpot / NS_PER_S)
        itl = self.itl.labels(target)
        for gap in record.itls_ns:
            itl.observe(gap / NS_PER_S)

    def set_loop_lag(self, seconds: float) -> None:
        """Publish the generator's latest event-loop lag under every target seen so far."""
        with self._lock:
            self._last_lag = seconds
            for target in self._in_flight:
                self.loop_lag.labels(target).set(seconds)
