"""Write the Grafana dashboards in this folder from one description, so they stay consistent.

    python dashboards/build.py           # rewrite dashboards/*.json
    python dashboards/build.py --check   # exit 1 if a JSON file differs from what this writes

Metric names follow docs/architecture.md: both servers export vLLM's `vllm:*` names (the HF server adds
`hf_server:*`), the load generator `loadgen_*` and locust `locust_*`. Prometheus adds the `server` label
to server-side series (docker/prometheus/prometheus.yml); client-side series carry `target`. Means are
`_sum` / `_count` rate ratios, percentiles `histogram_quantile` over summed bucket rates.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE_UID = "servebench-prometheus"
"""The uid of the provisioned datasource (docker/grafana/provisioning/datasources/prometheus.yml)."""
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
HERE = Path(__file__).resolve().parent
GRID_WIDTH = 24

SERVER_SEL = 'model_name=~"$model", server=~"$server"'
LOADGEN_SEL = 'target=~"$target"'
LOCUST_SEL = 'target=~"$target"'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and its legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A panel: title, what it shows, its queries, unit and size (width in grid columns of 24)."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Row:
    """A row header and the panels under it, laid out left to right, top to bottom."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A query template variable: `label_values(metric, label)`."""

    name: str
    label: str
    metric: str
    label_name: str
    multi: bool = True

    @property
    def definition(self) -> str:
        """The variable's query, as Grafana's Prometheus variable editor writes it."""
        return f"label_values({self.metric}, {self.label_name})"


@dataclass(frozen=True)
class Dashboard:
    """A whole dashboard."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    links: tuple[str, ...] = field(default_factory=tuple)


def quantile(q: float, metric: str, selector: str, by: str) -> str:
    """The q-quantile of histogram `metric` over the rate interval, one series per `by` label."""
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"


def mean(metric: str, selector: str, by: str) -> str:
    """The mean of histogram `metric` over the rate interval: rate of `_sum` over rate of `_count`."""
    return (
        f"sum by ({by}) (rate({metric}_sum{{{selector}}}[{RATE}]))"
        f" / sum by ({by}) (rate({metric}_count{{{selector}}}[{RATE}]))"
    )


def latency_queries(metric: str, selector: str, by: str, prefix: str = "") -> tuple[Query, ...]:
    """p50, p99 and mean of one latency histogram, per `by` label."""
    label = f"{prefix}{{{{{by}}}}}"
    return (
        Query(quantile(0.5, metric, selector, by), f"{label} p50"),
        Query(quantile(0.99, metric, selector, by), f"{label} p99"),
        Query(mean(metric, selector, by), f"{label} mean"),
    )


def server_latency(title: str, metric: str, what: str) -> Panel:
    """A side-by-side latency panel: both servers' p50, p99 and mean of `metric`."""
    return Panel(
        title,
        f"{what} Server side, per server: p50, p99 and mean.",
        latency_queries(metric, SERVER_SEL, "server"),
        unit="s",
    )


def client_vs_server(title: str, client: str, server: str | None, what: str) -> Panel:
    """Client-side latency from loadgen and locust, next to the servers' own figure."""
    queries = latency_queries(f"loadgen_{client}", LOADGEN_SEL, "target", "loadgen ")
    queries += latency_queries(f"locust_{client}", LOCUST_SEL, "target", "locust ")
    if server is not None:
        queries += (
            Query(quantile(0.5, server, SERVER_SEL, "server"), "server {{server}} p50"),
            Query(quantile(0.99, server, SERVER_SEL, "server"), "server {{server}} p99"),
        )
    side = " next to the servers' own p50 and p99" if server is not None else ""
    return Panel(title, f"{what} Client side (loadgen and locust, per target){side}.", queries, unit="s")


def errors_or_zero(metric: str, selector: str) -> str:
    """Failed requests per second by target and error class; 0 per target when nothing failed."""
    return (
        f'sum by (target, outcome) (rate({metric}{{{selector}, outcome!="success"}}[{RATE}]))'
        f" or sum by (target) (rate({metric}{{{selector}}}[{RATE}])) * 0"
    )


def error_fraction(metric: str, selector: str) -> str:
    """The fraction of finished requests that failed, per target (0 when none failed)."""
    failed = f'sum by (target) (rate({metric}{{{selector}, outcome!="success"}}[{RATE}]))'
    total = f"sum by (target) (rate({metric}{{{selector}}}[{RATE}]))"
    return f"({failed} or {total} * 0) / {total}"


MODEL_VAR = Variable("model", "Model", "vllm:num_requests_running", "model_name", multi=False)
SERVER_VAR = Variable("server", "Server", 'vllm:num_requests_running{model_name=~"$model"}', "server")
# Both clients' targets: loadgen and locust may name theirs differently (e.g. loadgen on vllm, locust on hf).
TARGET_VAR = Variable(
    "target", "Client target", '{__name__=~"loadgen_requests_total|locust_requests_total"}', "target"
)


COMPARISON = Dashboard(
    uid="servebench-comparison",
    title="servebench: vLLM vs HF server",
    description="The two servers side by side, from their own /metrics: latency, throughput, load, "
    "vLLM's KV cache and the HF server's batching.",
    variables=(MODEL_VAR, SERVER_VAR),
    links=("servebench-client",),
    rows=(
        Row(
            "Throughput",
            (
                Panel(
                    "Output tokens/s",
                    "Generated tokens per second, per server.",
                    (
                        Query(
                            f"sum by (server) (rate(vllm:generation_tokens_total{{{SERVER_SEL}}}[{RATE}]))",
                            "{{server}}",
                        ),
                    ),
                    unit="short",
                ),
                Panel(
                    "Finished requests/s",
                    "Requests finished per second, per server and finish reason.",
                    (
                        Query(
                            "sum by (server, finished_reason) "
                            f"(rate(vllm:request_success_total{{{SERVER_SEL}}}[{RATE}]))",
                            "{{server}} {{finished_reason}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Prompt tokens/s",
                    "Prompt tokens processed per second, per server.",
                    (
                        Query(
                            f"sum by (server) (rate(vllm:prompt_tokens_total{{{SERVER_SEL}}}[{RATE}]))",
                            "{{server}}",
                        ),
                    ),
                    unit="short",
                ),
                Panel(
                    "vLLM / HF output throughput",
                    "Speed-up: vLLM's output tokens/s over the HF server's, over the dashboard's time range.",
                    (
                        Query(
                            'sum(rate(vllm:generation_tokens_total{model_name=~"$model", server="vllm"}'
                            '[$__range])) / sum(rate(vllm:generation_tokens_total{model_name=~"$model", '
                            'server="hf"}[$__range]))',
                            "speed-up",
                        ),
                    ),
                    unit="suffix:×",
                    kind="stat",
                ),
            ),
        ),
        Row(
            "Latency (server side)",
            (
                server_latency(
                    "Time to first token",
                    "vllm:time_to_first_token_seconds",
                    "From the request's arrival to its first generated token.",
                ),
                server_latency(
                    "Inter-token latency",
                    "vllm:inter_token_latency_seconds",
                    "Gap between successive output tokens.",
                ),
                server_latency(
                    "End-to-end request latency",
                    "vllm:e2e_request_latency_seconds",
                    "From the request's arrival to its last token.",
                ),
                server_latency(
                    "Queue time",
                    "vllm:request_queue_time_seconds",
                    "Time a request waits before it is scheduled (HF server: before its batch starts).",
                ),
            ),
        ),
        Row(
            "Load",
            (
                Panel(
                    "Running requests",
                    "Requests being generated now, per server (vLLM: its batch).",
                    (Query(f"sum by (server) (vllm:num_requests_running{{{SERVER_SEL}}})", "{{server}}"),),
                ),
                Panel(
                    "Waiting requests",
                    "Requests queued and not yet running, per server.",
                    (Query(f"sum by (server) (vllm:num_requests_waiting{{{SERVER_SEL}}})", "{{server}}"),),
                ),
            ),
        ),
        Row(
            "Engine internals",
            (
                Panel(
                    "vLLM KV-cache use",
                    "Fraction of vLLM's KV-cache blocks in use (1 = full).",
                    (
                        Query(
                            'max by (server) (vllm:kv_cache_usage_perc{model_name=~"$model", server="vllm"})',
                            "{{server}}",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "HF server batch size",
                    "Requests per generate call: mean and p99 over the interval.",
                    (
                        Query(mean("hf_server:batch_size", SERVER_SEL, "server"), "{{server}} mean"),
                        Query(quantile(0.99, "hf_server:batch_size", SERVER_SEL, "server"), "{{server}} p99"),
                    ),
                    unit="short",
                ),
                Panel(
                    "HF server padding",
                    "Fraction of each batch's prompt tokens that are left padding "
                    "(work the naive batcher wastes): mean over the interval.",
                    (
                        Query(
                            mean("hf_server:batch_padding_fraction", SERVER_SEL, "server"), "{{server}} mean"
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "HF server batch wait",
                    "How long the batcher holds a batch open waiting for it to fill: p50, p99, mean.",
                    latency_queries("hf_server:batch_wait_seconds", SERVER_SEL, "server"),
                    unit="s",
                ),
                Panel(
                    "HF server generate call",
                    "Wall time of one batched generate call: the whole batch "
                    "waits for its longest request. p50, p99, mean.",
                    latency_queries("hf_server:batch_duration_seconds", SERVER_SEL, "server"),
                    unit="s",
                ),
                Panel(
                    "HF server generate calls/s",
                    "Batches started per second.",
                    (
                        Query(
                            f"sum by (server) (rate(hf_server:batches_total{{{SERVER_SEL}}}[{RATE}]))",
                            "{{server}}",
                        ),
                    ),
                    unit="short",
                ),
            ),
        ),
    ),
)

CLIENT = Dashboard(
    uid="servebench-client",
    title="servebench: client vs server latency",
    description="What the load generator and locust measured, next to what the servers report, and "
    "every failed request by error class.",
    variables=(MODEL_VAR, SERVER_VAR, TARGET_VAR),
    links=("servebench-comparison",),
    rows=(
        Row(
            "Latency: client next to server",
            (
                client_vs_server(
                    "Time to first token",
                    "time_to_first_token_seconds",
                    "vllm:time_to_first_token_seconds",
                    "From the send to the first content event.",
                ),
                client_vs_server(
                    "Inter-token latency",
                    "inter_token_latency_seconds",
                    "vllm:inter_token_latency_seconds",
                    "Gap between successive content events.",
                ),
                client_vs_server(
                    "End-to-end latency",
                    "e2e_request_latency_seconds",
                    "vllm:e2e_request_latency_seconds",
                    "From the send to the end of the response.",
                ),
                client_vs_server(
                    "Time per output token",
                    "time_per_output_token_seconds",
                    None,
                    "(E2E - TTFT) / (output tokens - 1), per request.",
                ),
            ),
        ),
        Row(
            "Traffic",
            (
                Panel(
                    "Requests/s by outcome",
                    "Finished requests per second, per target and outcome.",
                    (
                        Query(
                            "sum by (target, outcome) "
                            f"(rate(loadgen_requests_total{{{LOADGEN_SEL}}}[{RATE}]))",
                            "loadgen {{target}} {{outcome}}",
                        ),
                        Query(
                            f"sum by (target, outcome) (rate(locust_requests_total{{{LOCUST_SEL}}}[{RATE}]))",
                            "locust {{target}} {{outcome}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Output tokens/s: client and server",
                    "Output tokens per second as the clients "
                    "received them and as the servers generated them.",
                    (
                        Query(
                            f"sum by (target) (rate(loadgen_output_tokens_total{{{LOADGEN_SEL}}}[{RATE}]))",
                            "loadgen {{target}}",
                        ),
                        Query(
                            f"sum by (target) (rate(locust_output_tokens_total{{{LOCUST_SEL}}}[{RATE}]))",
                            "locust {{target}}",
                        ),
                        Query(
                            f"sum by (server) (rate(vllm:generation_tokens_total{{{SERVER_SEL}}}[{RATE}]))",
                            "server {{server}}",
                        ),
                    ),
                    unit="short",
                ),
            ),
        ),
        Row(
            "Errors",
            (
                Panel(
                    "Failed requests/s by error class",
                    "Client-side failures per target and error class "
                    "(docs/architecture.md: connect_error, http_4xx, http_5xx, timeout, stream_cut, "
                    "malformed_sse, inband_error, no_tokens, cancelled); 0 when none failed.",
                    (
                        Query(
                            errors_or_zero("loadgen_requests_total", LOADGEN_SEL),
                            "loadgen {{target}} {{outcome}}",
                        ),
                        Query(
                            errors_or_zero("locust_requests_total", LOCUST_SEL),
                            "locust {{target}} {{outcome}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Server-side failures/s",
                    "Requests the servers aborted or failed (finish reason "
                    "abort or error) and requests the HF server refused with 503 (queue full); 0 when none.",
                    (
                        Query(
                            "sum by (server, finished_reason) (rate(vllm:request_success_total"
                            f'{{{SERVER_SEL}, finished_reason=~"abort|error"}}[{RATE}]))'
                            " or sum by (server) (rate(vllm:request_success_total"
                            f"{{{SERVER_SEL}}}[{RATE}])) * 0",
                            "{{server}} {{finished_reason}}",
                        ),
                        Query(
                            "sum by (server) "
                            f"(rate(hf_server:requests_rejected_total{{{SERVER_SEL}}}[{RATE}]))",
                            "{{server}} rejected (503)",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Error fraction",
                    "Failed over finished requests, per target.",
                    (
                        Query(error_fraction("loadgen_requests_total", LOADGEN_SEL), "loadgen {{target}}"),
                        Query(error_fraction("locust_requests_total", LOCUST_SEL), "locust {{target}}"),
                    ),
                    unit="percentunit",
                ),
            ),
        ),
        Row(
            "Is the client keeping up?",
            (
                Panel(
                    "Concurrency",
                    "Requests in flight (loadgen), users (locust) and requests running on the servers.",
                    (
                        Query(
                            f"sum by (target) (loadgen_requests_in_flight{{{LOADGEN_SEL}}})",
                            "loadgen {{target}}",
                        ),
                        Query(f"sum by (target) (locust_users{{{LOCUST_SEL}}})", "locust {{target}} users"),
                        Query(
                            f"sum by (server) (vllm:num_requests_running{{{SERVER_SEL}}})",
                            "server {{server}}",
                        ),
                    ),
                ),
                Panel(
                    "Load generator event-loop lag",
                    "When this grows, the load generator is the bottleneck and its latencies are inflated.",
                    (Query(f"max(loadgen_event_loop_lag_seconds{{{LOADGEN_SEL}}})", "lag"),),
                    unit="s",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (COMPARISON, CLIENT)


def _variable_json(var: Variable) -> dict[str, Any]:
    return {
        "name": var.name,
        "label": var.label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": var.definition,
        "query": var.definition,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": var.multi,
        "includeAll": var.multi,
        "allValue": ".*" if var.multi else None,
        "current": {},
        "options": [],
        "hide": 0,
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": q.expr,
            "legendFormat": q.legend,
            "range": True,
            "instant": False,
        }
        for i, q in enumerate(panel.queries)
    ]
    options: dict[str, Any]
    if panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "auto",
        }
        custom: dict[str, Any] = {}
    else:
        options = {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "calcs": ["lastNotNull", "mean", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
        custom = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 0,
            "showPoints": "never",
            "spanNulls": False,
        }
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "custom": custom}, "overrides": []},
        "options": options,
        "targets": targets,
    }


def dashboard_json(board: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of `board` (ids and grid positions assigned in reading order)."""
    panels: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row in board.rows:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            }
        )
        next_id, y, x, row_height = next_id + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel_json(panel, next_id, x, y))
            next_id, x, row_height = next_id + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    return {
        "uid": board.uid,
        "title": board.title,
        "description": board.description,
        "tags": ["servebench"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "5s",
        "time": {"from": "now-30m", "to": "now"},
        "timezone": "browser",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {"title": uid, "type": "link", "url": f"/d/{uid}", "keepTime": True, "includeVars": True}
            for uid in board.links
        ],
        "templating": {"list": [_variable_json(v) for v in board.variables]},
        "panels": panels,
    }


def render(board: Dashboard) -> str:
    """The file text of `board`: indented JSON and a final newline."""
    return json.dumps(dashboard_json(board), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every dashboard's JSON file; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file differs instead of writing it")
    args = parser.parse_args(argv)
    stale = []
    for board in DASHBOARDS:
        path = HERE / f"{board.uid}.json"
        text = render(board)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python dashboards/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
