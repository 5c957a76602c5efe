"""The token lengths a run sent: per workload, the input and output lengths of its measured requests
(as the workload asked for them: `expected_prompt_tokens` and `max_tokens`, on the first target; every
target got the same requests), as a table and a histogram."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Figure, Table
from loadgen.workloads.lengths import describe_lengths


@dataclass
class LengthGroup:
    """The lengths sent by the levels of one workload."""

    name: str
    levels: list[str] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _notes(workload: dict[str, Any]) -> list[str]:
    notes = []
    if workload.get("max_output_len"):
        notes.append(f"output lengths capped at {workload['max_output_len']} tokens")
    for side, count in (workload.get("clamped") or {}).items():
        if count:
            notes.append(f"{count} {side} length(s) drawn outside the range were clamped into it")
    return notes


def length_groups(data: ReportData) -> list[LengthGroup]:
    """The primary run's measured requests on its first target, grouped by the workload of their level."""
    run = data.primary
    meta_workload = run.meta.get("workload") or {}
    main_name = str(meta_workload.get("name") or meta_workload.get("kind") or "workload")
    first = next((t.get("name") for t in run.meta.get("targets") or []), None)
    level_workload: dict[str, dict[str, Any]] = {}
    for summary in run.saved.summaries:
        if summary.get("target") == first:
            level_workload[str(summary.get("level"))] = summary.get("workload") or meta_workload
    groups: dict[str, LengthGroup] = {}
    for record in run.saved.records():
        if record.target != first or record.warmup or record.level not in level_workload:
            continue
        workload = level_workload[record.level]
        name = str(workload.get("name") or main_name)
        group = groups.get(name)
        if group is None:
            group = groups[name] = LengthGroup(name, notes=_notes(workload))
        if record.level not in group.levels:
            group.levels.append(record.level)
        prompt = (
            record.expected_prompt_tokens
            if record.expected_prompt_tokens is not None
            else record.prompt_tokens
        )
        if prompt is not None:
            group.inputs.append(prompt)
        if record.max_tokens is not None:
            group.outputs.append(record.max_tokens)
    return list(groups.values())


def _cell(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def length_blocks(data: ReportData) -> list[Block]:
    """A table of the lengths sent (mean, p50, p90, max, coefficient of variation) per workload."""
    groups = length_groups(data)
    if not groups:
        return []
    rows = []
    for group in groups:
        for side, values in (("input", group.inputs), ("output", group.outputs)):
            d = describe_lengths(values)
            rows.append(
                [
                    group.name if side == "input" else "",
                    side,
                    str(d["count"]),
                    _cell(d["mean"], 1),
                    _cell(d["p50"]),
                    _cell(d["p90"]),
                    _cell(d["max"]),
                    _cell(d["cv"], 2),
                ]
            )
    blocks: list[Block] = [
        Table(
            ["workload", "tokens", "requests", "mean", "p50", "p90", "max", "CV"],
            rows,
            caption="Lengths sent (measured requests; input as the workload counted it, output = "
            "max_tokens asked for; CV = standard deviation / mean). Every server got the same requests.",
        )
    ]
    notes = [f"{g.name}: {note}" for g in groups for note in g.notes]
    if notes:
        blocks.append("; ".join(notes) + ".")
    return blocks


def length_histogram(data: ReportData, plt: Any) -> Figure | None:
    """Histograms of the input and output lengths sent, one outline per workload."""
    groups = [g for g in length_groups(data) if g.inputs or g.outputs]
    if not groups:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, side in zip(axes, ("input", "output"), strict=True):
        every = [v for g in groups for v in (g.inputs if side == "input" else g.outputs)]
        lo, hi = (min(every), max(every)) if every else (0, 1)
        count = min(40, hi - lo + 1)
        bins = [lo - 0.5 + i * (hi - lo + 1) / count for i in range(count + 1)]  # shared, whole tokens
        for group in groups:
            values = group.inputs if side == "input" else group.outputs
            if values:
                ax.hist(
                    values, bins=bins, histtype="step", linewidth=1.5, label=f"{group.name} (n={len(values)})"
                )
        ax.set_xlabel(f"{side} tokens")
        ax.set_ylabel("requests")
        ax.set_title(f"{side.capitalize()} lengths sent")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    from loadgen.report.plots import _png  # the report's one PNG writer

    return Figure("lengths.png", "Input and output lengths sent, per workload", _png(fig))
