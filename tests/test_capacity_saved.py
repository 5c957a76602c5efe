"""A saved capacity search read back (`loadgen.compare.capacity_saved`): the capacity that counts, its
bound, ratios of bounds, and bursts of older runs judged from their probes' records."""

from __future__ import annotations

import gzip
import lzma
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadgen.compare.capacity import CapacityResult, CapacitySearch, ProbeResult
from loadgen.compare.capacity_saved import (
    CAPACITY_RECORDS,
    Bound,
    CapacityRatio,
    capacity_ratio,
    saved_capacities,
)
from loadgen.record import RequestRecord
from loadgen.results import JsonlSink

S = 1_000_000_000


def saved(*results: CapacityResult) -> dict[str, Any]:
    """A `capacity.json` holding `results`."""
    return {"threshold": 0.9, "results": [r.to_dict() for r in results]}


def test_the_capacity_is_the_highest_pass_that_was_not_a_burst() -> None:
    search = CapacitySearch("x", start_rate=16.0, max_rate=16.0, max_steps=5)
    search.note(ProbeResult(16.0, 16, 16, window_s=0.94, e2e_p50_s=0.7))  # a burst: run again
    search.record(ProbeResult(16.0, 35, 20, window_s=3.0, e2e_p50_s=0.9))
    search.record(ProbeResult(8.0, 40, 40, window_s=4.9, e2e_p50_s=0.45))
    found = saved_capacities(saved(search.result()))["x"]
    assert (found.value, found.bound) == (8.0, None)
    assert found.burst_rps == (16.0,) and found.lowest_failing_rps == 16.0
    assert [p.burst for p in found.probes] == [True, False, False] and found.stopped == "steps"


def test_a_search_that_passed_at_the_max_rate_is_a_lower_bound() -> None:
    probes = [ProbeResult(rate, 20, 20, window_s=10.0, e2e_p50_s=1.0) for rate in (16.0, 32.0, 64.0)]
    found = saved_capacities(saved(CapacityResult("x", 64.0, None, "max-rate", probes)))["x"]
    assert (found.value, found.bound, len(found.probes)) == (64.0, "lower", 3)


def test_a_search_that_failed_at_every_rate_is_an_upper_bound() -> None:
    probes = [ProbeResult(rate, 16, 0, ended_early=True) for rate in (2.0, 1.0, 0.5, 0.25)]
    found = saved_capacities(saved(CapacityResult("x", None, 0.25, "below-range", probes)))["x"]
    assert (found.value, found.bound, found.lowest_failing_rps) == (0.25, "upper", 0.25)
    assert found.burst_rps == () and all(p.ended_early for p in found.probes)


def test_a_burst_pass_does_not_lift_the_upper_bound_of_a_search_that_failed_every_sustained_probe() -> None:
    search = CapacitySearch("x", start_rate=1.0, max_rate=16.0, max_steps=5, min_rate=0.5)
    search.note(ProbeResult(1.0, 8, 8, window_s=2.0, e2e_p50_s=4.0))
    search.record(ProbeResult(1.0, 13, 0, window_s=12.0, e2e_p50_s=4.0))
    search.record(ProbeResult(0.5, 8, 0, ended_early=True))
    found = saved_capacities(saved(search.result()))["x"]
    assert found.stopped == "below-range" and found.burst_rps == (1.0,)
    assert (found.value, found.bound) == (0.5, "upper")


@dataclass(frozen=True)
class Figure:
    value: float | None
    bound: Bound | None = None


@pytest.mark.parametrize(
    ("subject", "base", "expected"),
    [
        (Figure(8.0), Figure(2.0), CapacityRatio(4.0)),
        (Figure(8.0, "lower"), Figure(2.0), CapacityRatio(4.0, "lower")),
        (Figure(8.0), Figure(2.0, "upper"), CapacityRatio(4.0, "lower")),
        (Figure(8.0, "lower"), Figure(2.0, "upper"), CapacityRatio(4.0, "lower")),
        (Figure(8.0, "upper"), Figure(2.0), CapacityRatio(4.0, "upper")),
        (Figure(8.0), Figure(2.0, "lower"), CapacityRatio(4.0, "upper")),
        (Figure(8.0, "upper"), Figure(2.0, "lower"), CapacityRatio(4.0, "upper")),
        (Figure(8.0, "lower"), Figure(2.0, "lower"), CapacityRatio(None, conflict=True)),
        (Figure(8.0, "upper"), Figure(2.0, "upper"), CapacityRatio(None, conflict=True)),
        (Figure(None), Figure(2.0, "upper"), CapacityRatio(None)),
        (Figure(8.0, "lower"), Figure(None), CapacityRatio(None)),
    ],
)
def test_a_ratio_of_bounds_is_a_bound_unless_they_pull_both_ways(
    subject: Figure, base: Figure, expected: CapacityRatio
) -> None:
    assert capacity_ratio(subject, base) == expected


def probe_records(path: Path, prefix: str, *, span_s: float, e2e_s: float, count: int = 8) -> None:
    """Append one probe's records: `count` arrivals over `span_s`, each taking `e2e_s`; a warm-up
    request before them, long ago, that must not count."""
    sink = JsonlSink(path)
    warmup = RequestRecord(f"{prefix}-w", "x", 0, "completions", True, 0, 0, warmup=True, end_ns=60 * S)
    sink.write(warmup)
    for i in range(count):
        start = 100 * S + round(i * span_s * S / (count - 1))
        sink.write(
            RequestRecord(
                f"{prefix}-{i}", "x", i, "completions", True, start, start, end_ns=start + round(e2e_s * S)
            )
        )
    sink.close()


def old_search() -> dict[str, Any]:
    """A `capacity.json` saved before probes carried `burst` (nor their window and latency)."""
    keep = ("rate", "requests", "met_slo", "client_bound", "achieved_rate", "ended_early", "goodput_share")
    result = CapacityResult(
        "x", 16.0, None, "max-rate", [ProbeResult(8.0, 40, 40), ProbeResult(16.0, 16, 16)]
    )
    raw = result.to_dict()
    raw["probes"] = [{k: v for k, v in p.items() if k in keep} for p in raw["probes"]]
    del raw["sustained_rps"]
    return {"threshold": 0.9, "results": [raw]}


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".xz", lzma.compress)])
def test_a_probe_saved_without_burst_is_judged_from_its_compressed_records(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / CAPACITY_RECORDS
    probe_records(path, "x-capacity1", span_s=5.0, e2e_s=0.5)  # 10 latencies: sustained
    probe_records(path, "x-capacity2", span_s=1.0, e2e_s=2.0)  # half a latency: a burst
    (tmp_path / f"{CAPACITY_RECORDS}{suffix}").write_bytes(compress(path.read_bytes()))
    path.unlink()
    found = saved_capacities(old_search(), tmp_path)["x"]
    assert [p.burst for p in found.probes] == [False, True]
    assert (found.probes[1].window_s, found.probes[1].e2e_p50_s) == (1.0, 2.0)
    # the top rate passed only as a burst: the capacity is the rate below, and at least that, since
    # no rate failed
    assert (found.value, found.bound, found.burst_rps) == (8.0, "lower", (16.0,))


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".xz", lzma.compress)])
def test_records_cut_short_are_taken_as_no_records(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / CAPACITY_RECORDS
    probe_records(path, "x-capacity1", span_s=5.0, e2e_s=0.5)
    probe_records(path, "x-capacity2", span_s=1.0, e2e_s=2.0)
    packed = compress(path.read_bytes())
    (tmp_path / f"{CAPACITY_RECORDS}{suffix}").write_bytes(packed[: len(packed) // 2])
    path.unlink()
    found = saved_capacities(old_search(), tmp_path)["x"]
    assert [p.burst for p in found.probes] == [False, False]  # as with no records at all


def test_a_probe_saved_without_burst_and_without_records_is_taken_as_passed(tmp_path: Path) -> None:
    found = saved_capacities(old_search(), tmp_path)["x"]
    assert [p.burst for p in found.probes] == [False, False]
    assert (found.value, found.bound) == (16.0, "lower")


def stopped_search(
    met: int, missed: int, cancelled: int, planned: int = 20
) -> tuple[dict[str, Any], list[RequestRecord]]:
    """A `capacity.json` saved before probes carried `interrupted`, whose run was stopped during its
    second probe (16 req/s, `planned` requests): the probe counted its cancelled requests as misses and
    was saved as a failure that ended early. And that probe's records: `met` finished within the
    1 s E2E limit, `missed` finished outside it, `cancelled` were cancelled by the stop."""
    first = ProbeResult(8.0, 40, 40, window_s=4.9, e2e_p50_s=0.45)
    cut = ProbeResult(16.0, planned, met, ended_early=True, window_s=2.0, e2e_p50_s=0.5)
    raw = CapacityResult("x", 8.0, 16.0, "interrupted", [first, cut]).to_dict()
    for probe in raw["probes"]:
        del probe["interrupted"]
    records = []
    for i in range(met + missed + cancelled):
        start = 100 * S + i * S // 16
        e2e = S // 2 if i < met else 2 * S
        error = "cancelled" if i >= met + missed else None
        records.append(
            RequestRecord(
                f"x-capacity2-{i}",
                "x",
                i,
                "completions",
                True,
                start,
                start,
                end_ns=start + e2e,
                error_class=error,
            )
        )
    return {"threshold": 0.9, "slo": {"e2el_ms": 1000.0}, "results": [raw]}, records


def write_records(run_dir: Path, records: list[RequestRecord]) -> None:
    sink = JsonlSink(run_dir / CAPACITY_RECORDS)
    for record in records:
        sink.write(record)
    sink.close()


def test_an_old_probe_cut_by_the_runs_stop_reads_back_as_interrupted_not_failed(tmp_path: Path) -> None:
    search, records = stopped_search(met=9, missed=1, cancelled=5)  # 1 miss of 20 settles nothing
    write_records(tmp_path, records)
    found = saved_capacities(search, tmp_path)["x"]
    assert [(p.interrupted, p.ended_early) for p in found.probes] == [(False, False), (True, False)]
    assert not found.probes[1].passed() and not found.probes[1].failed()
    # the saved lowest failing rate (16) came from the cut probe: read back, no rate failed
    assert (found.value, found.bound, found.lowest_failing_rps) == (8.0, "lower", None)


def test_an_old_probe_whose_finished_requests_settled_its_failure_stays_a_failure(tmp_path: Path) -> None:
    search, records = stopped_search(met=5, missed=3, cancelled=4)  # 3 misses of 20: below 90%
    write_records(tmp_path, records)
    found = saved_capacities(search, tmp_path)["x"]
    assert not found.probes[1].interrupted and found.probes[1].failed()
    assert (found.value, found.bound, found.lowest_failing_rps) == (8.0, None, 16.0)


def test_an_old_stopped_search_without_its_records_keeps_what_was_saved(tmp_path: Path) -> None:
    search, _ = stopped_search(met=9, missed=1, cancelled=5)
    found = saved_capacities(search, tmp_path)["x"]
    assert found.probes[1].failed() and found.lowest_failing_rps == 16.0
