"""A saved capacity search read back: the capacity that counts for each server, and ratios of them.

`capacity.json` (`loadgen compare --capacity-search`) holds each server's probes. The capacity that
counts is the highest rate that passed on a probe that was not a burst (`capacity.is_burst`). It is a
bound rather than an estimate where the search hit its range: a lower bound when the search stopped at
`--capacity-max-rate` and that top rate passed, an upper bound (the capacity is below the lowest rate
tried) when the search failed at every rate down to `--capacity-min-rate` ("below-range").

Runs saved before probes carried a `burst` flag are judged from the probes' records in
`capacity.jsonl` (or its `.xz` or `.gz` copy, as committed results keep them): probe k of a target is
the requests `{target}-capacity{k}-*`. So are the last probes of runs stopped mid-probe before probes
carried an `interrupted` flag: such a probe counted its cancelled requests as SLO misses and was saved
as a failure; read back, it is interrupted unless its finished requests alone settled its failure.
The lowest failing rate is taken from the probes, so an interrupted probe never sets it.
"""

from __future__ import annotations

import lzma
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from loadgen import errors
from loadgen.compare.capacity import (
    GOODPUT_TARGET,
    ProbeResult,
    counted_rates,
    failure_settled,
    missed_slo,
    probe_shape,
)
from loadgen.record import RequestRecord
from loadgen.results import iter_records, saved_jsonl
from loadgen.stats import SLO

CAPACITY_FILE = "capacity.json"
CAPACITY_RECORDS = "capacity.jsonl"

Bound = Literal["lower", "upper"]
_SLO_FIELDS = {f.name for f in fields(SLO)}


@dataclass(frozen=True)
class SavedCapacity:
    """One server's capacity at SLO as its saved search found it."""

    target: str
    value: float | None
    """The highest rate that passed on a probe that was not a burst; with `bound` "upper", the
    lowest rate tried, which failed (the capacity is below it); None when neither is known."""
    bound: Bound | None
    """"lower": the capacity is at least `value`; "upper": below it; None: `value` is an estimate."""
    burst_rps: tuple[float, ...]
    """Rates that passed only as a burst (ascending)."""
    lowest_failing_rps: float | None
    stopped: str
    """Why the search ended (`capacity.Stop`)."""
    probes: tuple[ProbeResult, ...]
    client_bound_failures: tuple[float, ...] = ()
    """Rates whose probe failed while the load generator was the bottleneck."""


class Bounded(Protocol):
    """A figure that may be a bound (`SavedCapacity`, or a measurement with the same two fields)."""

    @property
    def value(self) -> float | None: ...

    @property
    def bound(self) -> Bound | None: ...


@dataclass(frozen=True)
class CapacityRatio:
    """subject / base capacity, and whether it is a bound on the true ratio."""

    value: float | None
    bound: Bound | None = None
    conflict: bool = False
    """Both capacities are bounds that pull the ratio opposite ways (e.g. both at least the max
    rate): no ratio can be stated, so `value` is None."""


def read_search(run_dir: Path) -> dict[str, Any] | None:
    """The run's `capacity.json` as saved (None when the run had no capacity search)."""
    path = run_dir / CAPACITY_FILE
    if not path.is_file():
        return None
    raw = orjson.loads(path.read_bytes())
    return raw if isinstance(raw, dict) else None


def read_capacities(run_dir: Path) -> dict[str, SavedCapacity] | None:
    """Each server's capacity from the run's `capacity.json`, by target (None: no capacity search)."""
    search = read_search(run_dir)
    return None if search is None else saved_capacities(search, run_dir)


def saved_capacities(search: Mapping[str, Any], run_dir: Path | None = None) -> dict[str, SavedCapacity]:
    """Each server's capacity from a parsed `capacity.json`, by target in saved order. Probes saved
    without a `burst` flag are judged from the records in `run_dir` where they can be read (else they
    count as no burst, having nothing to judge by)."""
    threshold = float(search.get("threshold") or GOODPUT_TARGET)
    results = [r for r in search.get("results") or [] if isinstance(r, Mapping)]
    unjudged = any(
        not all("burst" in p for p in r.get("probes") or []) or _stopped_unflagged(r) for r in results
    )
    records = _probe_records(run_dir) if unjudged and run_dir is not None else None
    slo = SLO(**{k: float(v) for k, v in (search.get("slo") or {}).items() if k in _SLO_FIELDS})
    found: dict[str, SavedCapacity] = {}
    for result in results:
        target = str(result["target"])
        probes = _probes(target, result.get("probes") or [], records)
        if records is not None and _stopped_unflagged(result):
            probes = _rejudge_last(target, probes, records, slo, threshold)
        found[target] = _reading(result, target, probes, threshold)
    return found


def capacity_ratio(subject: Bounded, base: Bounded) -> CapacityRatio:
    """subject / base: a lower bound when the subject's capacity is one or the base's is an upper
    bound, an upper bound the other way round; no ratio when both directions apply at once."""
    if not subject.value or not base.value:
        return CapacityRatio(None)
    lower = subject.bound == "lower" or base.bound == "upper"
    upper = subject.bound == "upper" or base.bound == "lower"
    if lower and upper:
        return CapacityRatio(None, conflict=True)
    return CapacityRatio(subject.value / base.value, "lower" if lower else "upper" if upper else None)


def _reading(
    result: Mapping[str, Any], target: str, probes: tuple[ProbeResult, ...], threshold: float
) -> SavedCapacity:
    sustained, bursts = counted_rates(probes, threshold)
    stopped = str(result.get("stopped"))
    failing = min((p.rate for p in probes if p.failed(threshold)), default=None)
    value: float | None = None
    bound: Bound | None = None
    if sustained is not None:
        value = sustained
        # no rate failed (the search hit --capacity-max-rate, ran out of steps or was stopped while
        # growing): the capacity may be higher
        if failing is None:
            bound = "lower"
    elif stopped == "below-range" and failing:
        value, bound = failing, "upper"
    return SavedCapacity(
        target,
        value,
        bound,
        bursts,
        failing,
        stopped,
        probes,
        tuple(float(x) for x in result.get("client_bound_failures") or []),
    )


def _probes(
    target: str, saved: Sequence[Mapping[str, Any]], records: Mapping[str, list[RequestRecord]] | None
) -> tuple[ProbeResult, ...]:
    """The saved probes; those saved without their shape (before bursts were judged) take it from
    their records where those can be read, else count as no burst, having nothing to judge by."""
    probes = []
    for number, raw in enumerate(saved, 1):
        window_s, e2e_p50_s = raw.get("window_s"), raw.get("e2e_p50_s")
        if "burst" not in raw and records is not None:
            measured = [r for r in records.get(f"{target}-capacity{number}", []) if not r.warmup]
            window_s, e2e_p50_s = probe_shape(measured)
        achieved = raw.get("achieved_rate")
        probes.append(
            ProbeResult(
                rate=float(raw["rate"]),
                requests=int(raw["requests"]),
                met_slo=int(raw["met_slo"]),
                client_bound=bool(raw.get("client_bound")),
                achieved_rate=None if achieved is None else float(achieved),
                ended_early=bool(raw.get("ended_early")),
                window_s=None if window_s is None else float(window_s),
                e2e_p50_s=None if e2e_p50_s is None else float(e2e_p50_s),
                interrupted=bool(raw.get("interrupted")),
            )
        )
    return tuple(probes)


def _stopped_unflagged(result: Mapping[str, Any]) -> bool:
    """A search stopped by the run, saved before probes carried an `interrupted` flag."""
    probes = result.get("probes") or []
    return result.get("stopped") == "interrupted" and bool(probes) and "interrupted" not in probes[-1]


def _rejudge_last(
    target: str,
    probes: tuple[ProbeResult, ...],
    records: Mapping[str, list[RequestRecord]],
    slo: SLO,
    threshold: float,
) -> tuple[ProbeResult, ...]:
    """The probes with the last one marked interrupted when its records show that the run's stop, not
    its finished requests, ended it: some were cancelled, and those that finished outside the SLO do
    not settle its failure."""
    last = probes[-1]
    measured = [r for r in records.get(f"{target}-capacity{len(probes)}", []) if not r.warmup]
    cancelled = any(r.error_class == errors.CANCELLED for r in measured)
    missed = sum(1 for r in measured if missed_slo(r, slo))
    if not last.ended_early or not cancelled or failure_settled(last.requests, missed, threshold):
        return probes
    return (*probes[:-1], replace(last, interrupted=True, ended_early=False))


def _probe_records(run_dir: Path) -> dict[str, list[RequestRecord]] | None:
    """The capacity probes' records by probe (`vllm-capacity3`); None when they cannot be read."""
    path = saved_jsonl(run_dir, CAPACITY_RECORDS)
    if path is None:
        return None
    probes: dict[str, list[RequestRecord]] = {}
    try:
        for record in iter_records(path):
            probes.setdefault(record.request_id.rsplit("-", 1)[0], []).append(record)
    except (OSError, EOFError, lzma.LZMAError):  # EOFError: a compressed file cut short
        return None
    return probes
