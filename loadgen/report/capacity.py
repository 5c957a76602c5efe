"""The report's "Capacity at SLO" section, from `capacity.json` (`loadgen compare --capacity-search`)
as `loadgen.compare.capacity_saved` reads it."""

from __future__ import annotations

from typing import Any

from loadgen.compare.capacity import GOODPUT_TARGET, SUSTAINED_SPANS
from loadgen.compare.capacity_saved import SavedCapacity, capacity_ratio, read_search, saved_capacities
from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Table
from loadgen.report.ratios import format_ratio

_STOPS = {
    "converged": "converged",
    "max-rate": "reached --capacity-max-rate (capacity is at least this)",
    "steps": "ran out of --capacity-steps",
    "below-range": "failed even at the lowest rate tried",
    "interrupted": "interrupted by the run's stop before the search ended",
}
_SLO_NAMES = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "itl_ms": "ITL", "e2el_ms": "E2E"}


def read_capacity(data: ReportData) -> dict[str, Any] | None:
    """The primary run's `capacity.json` (None when the run had no capacity search)."""
    return read_search(data.primary.saved.directory)


def _rate(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.3g}"


def slo_text(slo: dict[str, Any]) -> str:
    """`TTFT <= 1000 ms, TPOT <= 100 ms`."""
    return ", ".join(f"{_SLO_NAMES.get(k, k)} <= {v:g} ms" for k, v in slo.items()) or "none"


def _ratio_text(subject: SavedCapacity, base: SavedCapacity) -> str:
    """The capacity ratio, `at least` or `at most` where it is a bound (`capacity_ratio`)."""
    ratio = capacity_ratio(subject, base)
    if ratio.conflict:
        return "unknown: both are bounds"
    text = format_ratio(ratio.value)
    if ratio.bound is None or text == "-":
        return text
    return f"{'at least' if ratio.bound == 'lower' else 'at most'} {text}"


def _capacity_text(found: SavedCapacity) -> str:
    """A server's capacity, `below R` when it failed even at the lowest rate tried."""
    if found.bound == "upper":
        return f"below {_rate(found.value)}"
    if found.bound == "lower":
        return f"at least {_rate(found.value)}"
    if found.value is None and found.burst_rps:
        return "none sustained"
    return _rate(found.value)


def capacity_headline(data: ReportData) -> list[str]:
    """One sentence per pair for the verdict: each server's capacity at SLO and the ratio."""
    capacity = read_capacity(data)
    if capacity is None or len(data.runs) != 1:
        return []
    results = saved_capacities(capacity, data.primary.saved.directory)
    share = 100 * float(capacity.get("threshold") or GOODPUT_TARGET)
    lines = []
    for subject, base in data.pairs:
        if subject in results and base in results:
            a, b = results[subject], results[base]
            lines.append(
                f"Capacity at SLO ({slo_text(capacity.get('slo') or {})}, goodput >= {share:.0f}%): "
                f"**{subject}** {_capacity_text(a)} req/s vs **{base}** {_capacity_text(b)} req/s "
                f"({_ratio_text(a, b)})."
            )
    return lines


def capacity_blocks(data: ReportData) -> list[Block]:
    """The section: the method, each server's capacity and the ratio, and every probe."""
    capacity = read_capacity(data)
    if capacity is None:
        return []
    threshold = float(capacity.get("threshold") or GOODPUT_TARGET)
    share = 100 * threshold
    arrival = str(capacity.get("arrival") or "poisson")
    if arrival == "gamma":
        arrival += f" (burstiness {float(capacity.get('burstiness') or 1):g})"
    cap = capacity.get("max_concurrency")
    results = saved_capacities(capacity, data.primary.saved.directory)
    tolerance = 100 * float(capacity.get("tolerance") or 0.05)
    floor = f" (down to {_rate(capacity['min_rate'])} req/s)" if capacity.get("min_rate") else ""
    blocks: list[Block] = [
        f"The highest request rate each server sustains with at least {share:.0f}% of its requests "
        f"succeeding within every SLO ({slo_text(capacity.get('slo') or {})}). Each probe is a short "
        f"open-loop level ({arrival} arrivals{f', at most {cap} in flight' if cap else ''}); the search "
        f"doubles the rate from {_rate(capacity.get('start_rate'))} req/s while probes pass (up to "
        f"{_rate(capacity.get('max_rate'))} req/s) or halves it while they fail{floor}, "
        f"then bisects between the last pass and the first "
        f"failure to within {tolerance:g}%, at most {capacity.get('max_steps')} probes per server. "
        "A probe ends as soon as so many of its requests missed an SLO that it cannot pass. A pass "
        f"counts only if the probe's arrivals spanned at least {SUSTAINED_SPANS:g} times its median "
        "end-to-end latency; a shorter one shows that the server absorbed a burst, and is run again "
        "at the same rate, long enough. The capacity is the highest rate that passed that way."
    ]
    rows = [
        [
            r.target,
            _capacity_text(r),
            _rate(r.lowest_failing_rps),
            str(len(r.probes)),
            _STOPS.get(r.stopped, r.stopped)
            + (
                f"; client-bound failure at {', '.join(_rate(x) for x in r.client_bound_failures)} "
                "req/s: that bound may be the load generator's"
                if r.client_bound_failures
                else ""
            ),
        ]
        for r in results.values()
    ]
    blocks.append(
        Table(
            ["server", "capacity (req/s)", "lowest failing rate (req/s)", "probes", "search"],
            rows,
            caption="Capacity at SLO",
        )
    )
    pair_rows = [
        [f"{a} over {b}", _ratio_text(results[a], results[b])]
        for a, b in data.pairs
        if a in results and b in results
    ]
    if pair_rows:
        blocks.append(Table(["capacity ratio", "x"], pair_rows))
    probe_rows = []
    for r in results.values():
        for number, p in enumerate(r.probes, 1):
            passed = p.passed(threshold)
            verdict = "pass" if passed else "fail"
            if p.interrupted:
                verdict = "interrupted by the run's stop: no verdict"
            elif p.ended_early:
                verdict += ", ended early: failure certain"
            if passed and p.burst:
                verdict += (
                    f" as a burst only (arrivals over {_rate(p.window_s)} s, under "
                    f"{SUSTAINED_SPANS:g} x the median E2E {_rate(p.e2e_p50_s)} s)"
                )
            probe_rows.append(
                [
                    r.target,
                    str(number),
                    _rate(p.rate),
                    f"{p.met_slo} / {p.requests}",
                    f"{100 * p.goodput_share:.0f}%",
                    _rate(p.achieved_rate),
                    verdict + (" (client-bound)" if p.client_bound else ""),
                ]
            )
    blocks.append(
        Table(
            [
                "server",
                "probe",
                "rate (req/s)",
                "within SLO / sent",
                "goodput share",
                "completed (req/s)",
                "verdict",
            ],
            probe_rows,
            caption="Every probe, in the order run",
        )
    )
    return blocks
