"""Saved runs read back into what a report shows: series of level summaries, parity, offline batches.

A series is one target of one run (`vllm`; or `RUN/vllm` when two runs are compared). Any run
directory works: a `loadgen compare` run (two or more targets, parity, offline batches) or a
`loadgen run` run (one target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loadgen.compare.parity import ParityReport
from loadgen.rebuild import rebuild_missing
from loadgen.results import SavedRun, load_run


@dataclass
class Series:
    """One target of one run: its level summaries and what the server reported about itself."""

    name: str
    target: str
    run: str
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Level label (`concurrency=4`) -> summary."""
    server: dict[str, Any] = field(default_factory=dict)
    repeats: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    """Level label -> repeat number -> that run's summary (`--repeats` > 1; `summaries` holds the pooled
    one). A later attempt (a client-bound level re-run) replaces an earlier one."""


@dataclass
class RunData:
    """One saved run and its comparison extras."""

    saved: SavedRun
    label: str
    parity: ParityReport | None
    offline: list[dict[str, Any]]

    @property
    def meta(self) -> dict[str, Any]:
        """The run's `run.json`."""
        return self.saved.meta


@dataclass
class ReportData:
    """Everything one report shows."""

    runs: list[RunData]
    series: list[Series]
    levels: list[str]
    """Level labels in sweep order (by load value)."""
    level_values: dict[str, float]
    x_label: str
    pairs: list[tuple[str, str]]
    """(subject series, baseline series): each speed-up is subject over baseline."""
    extra_levels: list[str] = field(default_factory=list)
    """Levels beside the sweep (the demo's ShareGPT level): in the tables, not on the sweep's axis."""
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """Figures derived once and shared by the report's parts (the bootstrap intervals)."""

    def server_label(self, run: RunData, name: str) -> str:
        """`name` as this report names it (`loadgen.report.data.server_label`)."""
        return server_label(run.label, name, len(self.runs))

    @property
    def primary(self) -> RunData:
        """The first (or only) run."""
        return self.runs[0]

    def series_named(self, name: str) -> Series:
        """The series called `name`."""
        return next(s for s in self.series if s.name == name)


def server_label(run_label: str, name: str, runs: int) -> str:
    """How the report names a run's server: its name alone in a one-run report, `RUN/NAME` when the
    report joins several runs (each may have servers of the same name)."""
    return f"{run_label}/{name}" if runs > 1 else name


def level_value(summary: dict[str, Any]) -> tuple[str, float]:
    """Where a level sits on its run's x axis: (axis label, value). The variance sweep's levels sit
    at the output-length CV they sent, other levels at their request rate or concurrency."""
    axis = summary.get("axis")
    if isinstance(axis, dict) and isinstance(axis.get("value"), int | float):  # the variance sweep
        return str(axis.get("label")), float(axis["value"])
    load = summary.get("load") or {}
    if load.get("mode") == "open":
        return "request rate (req/s)", float(load.get("rate") or 0)
    return "concurrency", float(load.get("concurrency") or 0)


def _read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes()) if path.is_file() else None


def read_run(directory: str | Path, label: str | None = None) -> RunData:
    """Read one run directory."""
    saved = load_run(directory)
    saved.summaries.extend(rebuild_missing(saved))  # a killed run: levels from requests.jsonl
    parity_raw = _read_json(saved.directory / "parity.json")
    offline = _read_json(saved.directory / "offline.json") or []
    parity = ParityReport.from_dict(parity_raw) if isinstance(parity_raw, dict) else None
    return RunData(saved, label or saved.directory.name, parity, offline)


def _attempt(summary: dict[str, Any] | None) -> int:
    """Which attempt a summary is (a client-bound level re-run is attempt 2; none yet: 0)."""
    return 0 if summary is None else int(summary.get("attempt") or 1)


def _series_of(run: RunData, runs: int) -> list[Series]:
    servers = {s.get("name"): s for s in run.meta.get("servers") or []}
    names = [t.get("name") for t in run.meta.get("targets") or []]
    for summary in run.saved.summaries:
        if summary.get("target") not in names:
            names.append(summary.get("target"))
    out: list[Series] = []
    for target in names:
        if target is None:
            continue
        name = server_label(run.label, str(target), runs)
        series = Series(name, str(target), run.label, server=dict(servers.get(target) or {}))
        for summary in run.saved.summaries:
            if summary.get("target") != target:
                continue
            level = str(summary.get("level"))
            if summary.get("repeat") is not None:
                slot, key = series.repeats.setdefault(level, {}), int(summary["repeat"])
                if _attempt(summary) >= _attempt(slot.get(key)):
                    slot[key] = summary
            elif _attempt(summary) >= _attempt(series.summaries.get(level)):
                series.summaries[level] = summary
        out.append(series)
    return out


def _pairs(runs: list[RunData], series: list[Series]) -> list[tuple[str, str]]:
    if len(runs) == 1:
        if len(series) < 2:
            return []
        baseline = runs[0].meta.get("baseline")
        names = [s.name for s in series]
        if baseline not in names:
            baseline = "hf" if "hf" in names else names[-1]
        return [(s.name, str(baseline)) for s in series if s.name != baseline]
    first, second = runs[0].label, runs[1].label
    a = {s.target: s.name for s in series if s.run == first}
    b = {s.target: s.name for s in series if s.run == second}
    common = [t for t in b if t in a]
    if common:
        return [(b[t], a[t]) for t in common]
    if a and b:
        return [(next(iter(b.values())), next(iter(a.values())))]
    return []


def load_report_data(directories: Sequence[str | Path]) -> ReportData:
    """Read one run (its targets compared) or two runs (each target of the second against the first)."""
    if not 1 <= len(directories) <= 2:
        raise ValueError("give one run directory, or two to compare them")
    labels: list[str | None] = [None] * len(directories)
    if len(directories) == 2:
        a, b = Path(directories[0]).resolve().name, Path(directories[1]).resolve().name
        labels = [a, b] if a != b else [f"A:{a}", f"B:{b}"]
    runs = [read_run(d, label) for d, label in zip(directories, labels, strict=True)]
    series = [s for run in runs for s in _series_of(run, len(runs))]
    values: dict[str, float] = {}
    extra: list[str] = []
    x_label = "concurrency"
    for run in runs:
        for summary in run.saved.summaries:
            level = str(summary.get("level"))
            if summary.get("extra_level"):
                extra += [] if level in extra else [level]
                continue
            x_label, value = level_value(summary)
            values.setdefault(level, value)
    levels = sorted(values, key=lambda level: values[level])
    return ReportData(runs, series, levels, values, x_label, _pairs(runs, series), extra)
