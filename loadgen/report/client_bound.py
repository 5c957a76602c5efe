"""Levels where the load generator, not a server, was the bottleneck: left out of the verdict.

A level is client-bound when the self-check (`loadgen.selfcheck`) flagged any of its runs (any
repeat, any target) in the attempt the report uses: with `--rerun-client-bound` the level ran once
more and the re-run replaced the first attempt. The report names these levels at its top.
"""

from __future__ import annotations

from loadgen.report.data import ReportData


def client_bound_levels(data: ReportData) -> dict[str, list[str]]:
    """Level -> `server: reasons` for each client-bound run of it (levels with none left out)."""
    out: dict[str, list[str]] = {}
    for level in data.levels:
        for series in data.series:
            runs = list((series.repeats.get(level) or {}).values()) or [series.summaries.get(level) or {}]
            for summary in runs:
                if summary.get("client_bound"):
                    reasons = "; ".join((summary.get("selfcheck") or {}).get("reasons") or []) or "flagged"
                    which = f" repeat {int(summary['repeat']) + 1}" if "repeat" in summary else ""
                    out.setdefault(level, []).append(f"{series.name}{which}: {reasons}")
    return out


def reran_levels(data: ReportData) -> list[str]:
    """Levels run a second time because the first attempt was client-bound."""
    return [str(level) for run in data.runs for level in run.meta.get("reruns") or []]


def client_bound_notes(data: ReportData) -> list[str]:
    """Sentences for the top of the report and the console verdict (none when every level kept up)."""
    bound = client_bound_levels(data)
    reran = reran_levels(data)
    notes = []
    if bound:
        details = " | ".join(f"{level} ({'; '.join(why)})" for level, why in bound.items())
        again = [level for level in bound if level in reran]
        tail = f" Re-run once, still client-bound: {', '.join(again)}." if again else ""
        if not again and not reran:
            tail = (
                " Re-run them with `--rerun-client-bound`, fewer levels, or a load generator with more CPU."
            )
        notes.append(
            f"CLIENT-BOUND, left out of the verdict: {', '.join(bound)}. The load generator could not keep "
            f"up, so these latencies include its own delay: {details}.{tail}"
        )
    recovered = [level for level in reran if level not in bound]
    if recovered:
        notes.append(
            f"Client-bound at first and re-run once (`--rerun-client-bound`); the re-run kept up: "
            f"{', '.join(recovered)}."
        )
    return notes
