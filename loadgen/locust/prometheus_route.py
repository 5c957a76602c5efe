"""The master's `/metrics`: locust-driven traffic in Prometheus text, with docs/architecture.md's names.

Added to locust's own web app with its documented "adding web routes" pattern, so it is served on
the web UI port (8089 by default) of the master or of a single process. Rendered at scrape time from
the node's merged `MetricsState` (which holds the workers' reports when distributed) and the
runner's current user count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from loadgen.locust.metrics_state import MetricsState

HISTOGRAM_NAMES: dict[str, tuple[str, str]] = {
    "ttft": (
        "locust_time_to_first_token_seconds",
        "Client-side time to first token: send to the first event carrying generated text.",
    ),
    "itl": ("locust_inter_token_latency_seconds", "Client-side gap between successive content events."),
    "tpot": (
        "locust_time_per_output_token_seconds",
        "Client-side (E2E - TTFT) / (output tokens - 1), per request.",
    ),
    "e2e": (
        "locust_e2e_request_latency_seconds",
        "Client-side end-to-end request latency: send to the end of the response.",
    ),
}


class LocustCollector(Collector):
    """Turns a `MetricsState` and the live user count into metric families at each scrape."""

    def __init__(
        self, state: MetricsState, users: Callable[[], int], target: Callable[[], str | None]
    ) -> None:
        self._state = state
        self._users = users
        self._target = target

    def collect(self) -> Iterator[Metric]:
        """The families, labelled by target."""
        state = self._state
        for metric, (name, doc) in HISTOGRAM_NAMES.items():
            family = HistogramMetricFamily(name, doc, labels=["target"])
            for (kind, target), histogram in sorted(state.histograms.items()):
                if kind == metric:
                    family.add_metric([target], histogram.cumulative(), histogram.total)
            yield family
        requests = CounterMetricFamily(
            "locust_requests",
            "Finished requests by outcome (`success` or the error class).",
            labels=["target", "outcome"],
        )
        for (target, outcome), count in sorted(state.requests.items()):
            requests.add_metric([target, outcome], count)
        yield requests
        for name, doc, counts in (
            ("locust_prompt_tokens", "Prompt tokens of finished requests.", state.prompt_tokens),
            (
                "locust_output_tokens",
                "Output tokens received, failed requests' partial output included.",
                state.output_tokens,
            ),
        ):
            tokens = CounterMetricFamily(name, doc, labels=["target"])
            for target, count in sorted(counts.items()):
                tokens.add_metric([target], count)
            yield tokens
        users = GaugeMetricFamily(
            "locust_users", "Locust users running now (all workers).", labels=["target"]
        )
        current = self._target()
        if current is not None:
            users.add_metric([current], self._users())
        yield users


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(registry)


def add_metrics_route(app: object, collector: LocustCollector) -> None:
    """Serve `collector` on `GET /metrics` of locust's Flask `app` (`environment.web_ui.app`)."""
    from flask import Flask, Response

    assert isinstance(app, Flask)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    @app.route("/metrics")
    def metrics() -> Response:
        return Response(render(registry), mimetype=CONTENT_TYPE_LATEST)
