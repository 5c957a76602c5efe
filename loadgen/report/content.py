"""What the comparison report says, section by section, as a `Document`.

Order: the verdict (parity first: no number is presented as a comparison unless the servers passed
the parity gates), the speed-ups, the per-level tables, the plots, the fixed batches, the parity
details, each server's exact configuration, the machine, the load generator's self-check, and the
method (workload, definitions, how to reproduce).
"""

from __future__ import annotations

from typing import Any

from loadgen.report.batches import batch_blocks
from loadgen.report.capacity import capacity_blocks, capacity_headline
from loadgen.report.client_bound import client_bound_levels, client_bound_notes
from loadgen.report.context import config_blocks, machine_blocks, method_blocks, selfcheck_blocks
from loadgen.report.data import ReportData, RunData
from loadgen.report.doc import Block, Callout, Code, Document, Figure, Section, Table
from loadgen.report.drain import drain_notes
from loadgen.report.extra_levels import extra_headlines, extra_level_blocks
from loadgen.report.gpu_budget import gpu_budget_blocks
from loadgen.report.gpu_processes import gpu_process_blocks
from loadgen.report.gpu_state import gpu_blocks, host_bound_notes
from loadgen.report.intervals import interval_blocks, ratio_for, repeats_of
from loadgen.report.lengths import length_blocks
from loadgen.report.ratios import METRICS, Metric, batch_speedup, format_ratio, format_value, speedup
from loadgen.report.server_view import rebuilt_blocks, server_view_blocks
from loadgen.report.steadiness import unsteady_notes
from loadgen.report.tails import DAGGER, FOOTNOTE, is_thin, mark
from loadgen.report.traffic import traffic_text
from loadgen.report.variance import variance_blocks

GIB = 1024**3


def _mib(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value / 2**20:,.0f} MiB"


def _title(data: ReportData) -> str:
    names = [s.name for s in data.series]
    if len(data.runs) == 2:
        return f"servebench: {data.runs[1].label} vs {data.runs[0].label}"
    if data.pairs:
        subject, base = data.pairs[0]
        return f"servebench: {subject} vs {base}" if len(names) == 2 else "servebench: " + " vs ".join(names)
    return f"servebench: {', '.join(names) or 'run'}"


def _subtitle(data: ReportData) -> str:
    meta = data.primary.meta
    machine = meta.get("machine") or {}
    model = next((t.get("model") for t in meta.get("targets") or [] if t.get("model")), "?")
    return (
        f"Model `{model}` · run `{data.primary.label}` started {meta.get('started_at', '?')} · "
        f"{machine.get('cpu_count', '?')} CPUs, {machine.get('platform', '?')}"
    )


def _parity_blocks(run: RunData) -> list[Block]:
    if run.parity is None:
        if run.meta.get("kind") == "compare":
            return [
                Callout(
                    "warn", "No parity verdict was saved (the run was interrupted before the probe ended)."
                )
            ]
        return []
    if run.parity.passed:
        skipped = [g.name for g in run.parity.gates if g.status == "skipped"]
        extra = f" ({', '.join(skipped)} skipped)" if skipped else ""
        return [
            Callout(
                "ok", f"Parity gates passed{extra}: the servers did the same work, so their numbers compare."
            )
        ]
    reasons = "; ".join(f"{g.name}: {g.summary}" for g in run.parity.failures)
    stopped = run.meta.get("stopped_at_parity")
    tail = (
        " The sweep was not run (parity mode `gate`)."
        if stopped
        else " The numbers below were measured anyway (`--parity report`) and must not be read as a "
        "comparison."
    )
    return [Callout("fail", f"NOT COMPARABLE: {reasons}.{tail}")]


def headline(data: ReportData) -> list[str]:
    """One sentence per compared pair: the throughput speed-up at the top level (with its 95% interval
    and the traffic it holds for), its range, latencies. Client-bound levels are left out."""
    if not data.pairs or not data.levels:
        return []
    excluded = client_bound_levels(data)
    levels = [level for level in data.levels if level not in excluded]
    if not levels:
        return ["No verdict: every level was client-bound (see above)."]
    blocks: list[str] = []
    top = levels[-1]
    for subject, base in data.pairs:
        a, b = data.series_named(subject), data.series_named(base)
        throughput = [speedup(METRICS[0], a.summaries.get(level), b.summaries.get(level)) for level in levels]
        known = [r for r in throughput if r is not None]
        if not known:
            continue
        sa, sb = a.summaries.get(top), b.summaries.get(top)
        ci = ratio_for(data, (subject, base), top, METRICS[0].key)
        ci_text = (
            f" (95% CI {ci.low:.2f}–{ci.high:.2f}x, {ci.method})"
            if ci is not None and ci.low is not None and ci.high is not None
            else ""
        )
        traffic = traffic_text(data.primary.meta, (sa or sb or {}).get("load") or {}, repeats_of(data, top))
        parts = [
            f"**{subject}** delivers **{format_ratio(throughput[-1])}**{ci_text} the output throughput "
            f"of **{base}** — {traffic} "
            f"({format_value(METRICS[0].value(sa))} vs {format_value(METRICS[0].value(sb))} tok/s)"
        ]
        if len(known) > 1:
            parts.append(f"{format_ratio(min(known))} to {format_ratio(max(known))} across the sweep")
        ttft = next(m for m in METRICS if m.key == "p50_ttft_ms")
        e2e = next(m for m in METRICS if m.key == "p50_e2el_ms")
        parts.append(
            f"TTFT p50 {format_value(ttft.value(sa))} vs {format_value(ttft.value(sb))} ms, "
            f"E2E p50 {format_value(e2e.value(sa))} vs {format_value(e2e.value(sb))} ms"
        )
        blocks.append("; ".join(parts) + ".")
    return blocks


def _speedup_table(data: ReportData) -> list[Block]:
    blocks: list[Block] = []
    for subject, base in data.pairs:
        a, b = data.series_named(subject), data.series_named(base)
        rows = []
        for metric in METRICS:
            ratios = [
                speedup(metric, a.summaries.get(level), b.summaries.get(level)) for level in data.levels
            ]
            if any(r is not None for r in ratios):
                thin = [
                    is_thin(metric.key, a.summaries.get(level)) or is_thin(metric.key, b.summaries.get(level))
                    for level in data.levels
                ]
                cells = [mark(format_ratio(r), t) for r, t in zip(ratios, thin, strict=True)]
                rows.append([f"{metric.label} ({metric.unit})", *cells])
        if rows:
            blocks.append(
                Table(
                    ["metric", *data.levels],
                    rows,
                    caption=f"Speed-up of {subject} over {base} (above 1: {subject} is better)",
                )
            )
    return blocks


def metric_cells(data: ReportData, metric: Metric, level: str) -> list[str] | None:
    """`metric` at `level`: each series' value, then each pair's speed-up, formatted (None: no value)."""
    values = [metric.value(s.summaries.get(level)) for s in data.series]
    if all(v is None for v in values):
        return None
    thin = {s.name: is_thin(metric.key, s.summaries.get(level)) for s in data.series}
    cells = [mark(format_value(v), thin[s.name]) for v, s in zip(values, data.series, strict=True)]
    for a, b in data.pairs:
        sa, sb = data.series_named(a).summaries.get(level), data.series_named(b).summaries.get(level)
        cells.append(mark(format_ratio(speedup(metric, sa, sb)), thin[a] or thin[b]))
    return cells


def _level_tables(data: ReportData) -> list[Block]:
    blocks: list[Block] = []
    names = [s.name for s in data.series]
    pair_heads = [f"{a}/{b}" if len(data.pairs) > 1 else "speed-up" for a, b in data.pairs]
    for level in data.levels:
        rows = []
        ok = [
            str((s.summaries.get(level) or {}).get("completed", "-"))
            + " / "
            + str((s.summaries.get(level) or {}).get("failed", "-"))
            for s in data.series
        ]
        rows.append(["requests ok / failed", *ok, *["" for _ in data.pairs]])
        for metric in METRICS:
            cells = metric_cells(data, metric, level)
            if cells is not None:
                rows.append([f"{metric.label} ({metric.unit})", *cells])
        blocks.append(Table(["metric", *names, *pair_heads], rows, caption=level))
    return blocks


def _offline_blocks(data: ReportData) -> list[Block]:
    rows_in = [(run, b) for run in data.runs for b in run.offline]
    blocks: list[Block] = []
    if rows_in:
        rows = []
        for run, b in rows_in:
            name = data.server_label(run, b["target"])
            rows.append(
                [
                    name,
                    str(b["batch_size"]),
                    f"{b['completed']} / {b['failed']}",
                    f"{b['seconds']:.2f}",
                    format_value(b["output_tokens_per_s"]),
                    format_value(b.get("mean_ttft_ms")),
                    _mib(b.get("peak_rss_bytes")),
                ]
            )
        rows.sort(key=lambda r: (int(r[1]), r[0]))
        blocks.append(
            Table(
                [
                    "server",
                    "batch",
                    "ok / failed",
                    "time to finish (s)",
                    "output tok/s",
                    "TTFT mean (ms)",
                    "peak memory (RSS)",
                ],
                rows,
                caption="Fixed batches: N prompts sent at once, timed from the first send to the last token",
            )
        )
        blocks += _offline_speedups(data)
    servers = [(run, s) for run in data.runs for s in run.meta.get("servers") or []]
    if servers:
        rows = []
        for run, s in servers:
            launch = s.get("launch") or {}
            name = data.server_label(run, s.get("name", "?"))
            memory = launch.get("gpu_memory") or {}
            profiled = memory.get("profiled_start") or {}
            if memory.get("sized_by") == "restart" and profiled:
                # the serving start below is warm: this one is the start a deployment would wait for
                label = f"{name} (profiled start, before its restart to fit the budget)"
                rows.append(_startup_row(label, profiled, "-"))
                name = f"{name} (serving start, compile caches warm)"
            rows.append(_startup_row(name, launch, _mib(s.get("idle_rss_bytes"))))
        blocks.append(
            Table(
                [
                    "server",
                    "load time: launch to healthy (s)",
                    "launch to first token (s)",
                    "memory in use when idle (RSS)",
                ],
                rows,
                caption="Start-up and memory (RSS of the server's whole process tree; '-' when the "
                "server was not launched here or its process is not visible)",
            )
        )
    return blocks


def _startup_row(name: str, start: dict[str, Any], memory: str) -> list[str]:
    """A start-up table row: `start`'s launch-to-healthy and launch-to-first-token seconds."""
    load, first = start.get("load_time_s"), start.get("first_token_s")
    return [name, "-" if load is None else f"{load:.1f}", "-" if first is None else f"{first:.1f}", memory]


def _offline_speedups(data: ReportData) -> list[Block]:
    if len(data.runs) != 1 or not data.pairs:
        return []
    by = {(b["target"], int(b["batch_size"])): b for b in data.primary.offline}
    sizes = sorted({size for _, size in by})
    rows = []
    for subject, base in data.pairs:
        ratios = [batch_speedup(by.get((subject, size)), by.get((base, size))) for size in sizes]
        rows.append([f"{subject} over {base}", *map(format_ratio, ratios)])
    return [Table(["batch speed-up (time to finish)", *[str(s) for s in sizes]], rows)]


def _parity_details(run: RunData) -> list[Block]:
    if run.parity is None:
        return ["No parity checks in this run."]
    blocks: list[Block] = [
        Table(
            ["gate", "verdict", "what was found"],
            [[g.name, g.status.upper(), g.summary] for g in run.parity.gates],
        )
    ]
    agreement = next((g for g in run.parity.gates if g.name == "token_agreement"), None)
    if agreement is not None and agreement.details.get("targets"):
        rows = [
            [
                name,
                f"{100 * d['mean_prefix_agreement']:.0f}%",
                f"{d['exact_matches']} / {d['prompts']}",
                f"{d['first_token_matches']} / {d['prompts']}",
            ]
            for name, d in agreement.details["targets"].items()
        ]
        unit = agreement.details.get("unit", "tokens")
        blocks.append(
            Table(
                ["server", f"mean common prefix ({unit})", "identical outputs", "same first token"],
                rows,
                caption=f"Greedy decoding of {agreement.details['targets'][rows[0][0]]['prompts']} "
                f"fixed prompts, compared with {agreement.details.get('baseline')}",
            )
        )
        for name, d in agreement.details["targets"].items():
            for example in d.get("examples", [])[:1]:
                text = "\n".join(f"{key}: {value!r}" for key, value in example.items())
                blocks += [f"First differing output ({name}):", Code(text)]
    return blocks


def _footnoted(blocks: list[Block]) -> list[Block]:
    """`blocks`, and the dagger's footnote when a table cell carries it."""
    marked = any(DAGGER in cell for b in blocks if isinstance(b, Table) for row in b.rows for cell in row)
    return [*blocks, FOOTNOTE] if marked else blocks


def level_warnings(data: ReportData) -> list[str]:
    """The levels whose figures need a caveat, in the order the report and the console name them:
    client-bound, host-bound, unsteady host, drain-bound."""
    return [*client_bound_notes(data), *host_bound_notes(data), *unsteady_notes(data), *drain_notes(data)]


PLOTS_LEFT_OUT = (
    "Left out of this copy (`loadgen report --no-plots`, as for results kept in a repository): "
    "`python -m loadgen report DIR` draws them from the same records."
)


def build_document(
    data: ReportData, figures: list[Figure], figures_note: str | None, plots: bool = True
) -> Document:
    """The whole report."""
    verdict = [b for run in data.runs for b in _parity_blocks(run)]
    verdict += [Callout("warn", str(w)) for run in data.runs for w in run.meta.get("warnings") or []]
    verdict += rebuilt_blocks(data)
    stopped = any(run.meta.get("stopped_at_parity") for run in data.runs)
    verdict = [*(Callout("warn", note) for note in level_warnings(data)), *verdict]
    doc = Document(_title(data), _subtitle(data))
    verdict += [] if stopped else [*headline(data), *extra_headlines(data), *capacity_headline(data)]
    doc.sections.append(Section("Verdict", verdict))
    if not stopped:
        if data.pairs:
            doc.sections.append(Section("Speed-up at each level", _footnoted(_speedup_table(data))))
            intervals = interval_blocks(data)
            if intervals:
                doc.sections.append(Section("Confidence intervals (95%)", intervals))
        levels = _level_tables(data)
        doc.sections.append(Section("Results by level", _footnoted(levels) or ["No level was measured."]))
        for title, blocks in (
            ("Beside the sweep: realistic traffic", extra_level_blocks(data)),
            ("Output-length variance", variance_blocks(data)),
            ("Lengths sent", length_blocks(data)),
        ):
            if blocks:
                doc.sections.append(Section(title, blocks))
        formed = batch_blocks(data)
        if formed:
            doc.sections.append(Section("Batches the servers formed", formed))
        plot_blocks: list[Block] = list(figures)
        if figures_note:
            plot_blocks.append(Callout("warn", figures_note))
        if not plots:
            plot_blocks.append(PLOTS_LEFT_OUT)
        doc.sections.append(Section("Plots", plot_blocks))
        capacity = capacity_blocks(data)
        if capacity:
            doc.sections.append(Section("Capacity at SLO", capacity))
        offline = _offline_blocks(data) + gpu_budget_blocks(data) + gpu_process_blocks(data)
        if offline:
            doc.sections.append(Section("Fixed batches, load time and memory", offline))
    for run in data.runs:
        title = "Parity checks" if len(data.runs) == 1 else f"Parity checks: {run.label}"
        doc.sections.append(Section(title, _parity_details(run)))
    doc.sections.append(Section("Server configuration", config_blocks(data)))
    doc.sections.append(Section("Machine", machine_blocks(data)))
    server_view = server_view_blocks(data)
    if server_view:
        doc.sections.append(Section("Server-side view (from /metrics)", server_view))
    selfcheck = selfcheck_blocks(data)
    if selfcheck:
        doc.sections.append(Section("Load generator self-check", selfcheck))
    gpu = gpu_blocks(data)
    if gpu:
        doc.sections.append(Section("GPU during each level", gpu))
    doc.sections.append(Section("Method", method_blocks(data)))
    return doc
