"""The report's "Capacity at SLO" section, from `capacity.json` (`loadgen compare --capacity-search`)."""

from __future__ import annotations

from typing import Any

import orjson

from loadgen.compare.capacity import SUSTAINED_SPANS
from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Table
from loadgen.report.ratios import format_ratio

CAPACITY_FILE = "capacity.json"

_STOPS = {
    "converged": "converged",
    "max-rate": "reached --capacity-max-rate (capacity is at least this)",
    "steps": "ran out of --capacity-steps",
    "below-range": "failed even at the lowest rate tried",
    "interrupted": "interrupted",
}
_SLO_NAMES = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "itl_ms": "ITL", "e2el_ms": "E2E"}


def read_capacity(data: ReportData) -> dict[str, Any] | None:
    """The primary run's `capacity.json` (None when the run had no capacity search)."""
    path = data.primary.saved.directory / CAPACITY_FILE
    if not path.is_file():
        return None
    raw = orjson.loads(path.read_bytes())
    return raw if isinstance(raw, dict) else None


def _rate(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.3g}"


def slo_text(slo: dict[str, Any]) -> str:
    """`TTFT <= 1000 ms, TPOT <= 100 ms`."""
    return ", ".join(f"{_SLO_NAMES.get(k, k)} <= {v:g} ms" for k, v in slo.items()) or "none"


def _value(result: dict[str, Any]) -> float | None:
    """The capacity that counts: the highest sustained pass (a burst's pass is not), where saved."""
    return result["sustained_rps"] if "sustained_rps" in result else result.get("capacity_rps")


def _at_max(result: dict[str, Any]) -> bool:
    """True when the capacity is the search's top rate, which passed: it may be higher."""
    value = _value(result)
    return result.get("stopped") == "max-rate" and value is not None and value == result.get("capacity_rps")


def _capacities(capacity: dict[str, Any]) -> dict[str, float | None]:
    return {str(r["target"]): _value(r) for r in capacity.get("results") or []}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _ratio_text(capacity: dict[str, Any], subject: str, base: str) -> str:
    """The capacity ratio. A lower bound (`at least`) when only the subject hit the maximum rate, or
    when the base failed even at the lowest rate tried (then over that rate, which it fell below); an
    upper bound (`at most`) the other way round."""
    results = {str(r["target"]): r for r in capacity.get("results") or []}
    a, b = results.get(subject) or {}, results.get(base) or {}
    if _below_range(b):
        text = format_ratio(_ratio(_value(a), b.get("lowest_failing_rps")))
        return f"at least {text}" if text != "-" else text
    if _below_range(a):
        text = format_ratio(_ratio(a.get("lowest_failing_rps"), _value(b)))
        return f"at most {text}" if text != "-" else text
    text = format_ratio(_ratio(_value(a), _value(b)))
    bounded = _at_max(a) and not _at_max(b)
    return f"at least {text}" if bounded and text != "-" else text


def _below_range(result: dict[str, Any]) -> bool:
    return result.get("stopped") == "below-range" and not result.get("capacity_rps")


def _capacity_text(result: dict[str, Any]) -> str:
    """A server's capacity, `below R` when it failed even at the lowest rate tried."""
    if _below_range(result):
        return f"below {_rate(result.get('lowest_failing_rps'))}"
    if _value(result) is None and result.get("capacity_rps"):
        return "none sustained"
    return _rate(_value(result))


def capacity_headline(data: ReportData) -> list[str]:
    """One sentence per pair for the verdict: each server's capacity at SLO and the ratio."""
    capacity = read_capacity(data)
    if capacity is None or len(data.runs) != 1:
        return []
    results = {str(r["target"]): r for r in capacity.get("results") or []}
    share = 100 * float(capacity.get("threshold") or 0.9)
    lines = []
    for subject, base in data.pairs:
        if subject in results and base in results:
            a, b = results[subject], results[base]
            lines.append(
                f"Capacity at SLO ({slo_text(capacity.get('slo') or {})}, goodput >= {share:.0f}%): "
                f"**{subject}** {_capacity_text(a)} req/s vs **{base}** {_capacity_text(b)} req/s "
                f"({_ratio_text(capacity, subject, base)})."
            )
    return lines


def capacity_blocks(data: ReportData) -> list[Block]:
    """The section: the method, each server's capacity and the ratio, and every probe."""
    capacity = read_capacity(data)
    if capacity is None:
        return []
    share = 100 * float(capacity.get("threshold") or 0.9)
    arrival = str(capacity.get("arrival") or "poisson")
    if arrival == "gamma":
        arrival += f" (burstiness {float(capacity.get('burstiness') or 1):g})"
    cap = capacity.get("max_concurrency")
    results = capacity.get("results") or []
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
            str(r["target"]),
            _capacity_text(r),
            _rate(r.get("lowest_failing_rps")),
            str(len(r.get("probes") or [])),
            _STOPS.get(str(r.get("stopped")), str(r.get("stopped")))
            + (
                f"; client-bound failure at {', '.join(_rate(x) for x in r['client_bound_failures'])} "
                "req/s: that bound may be the load generator's"
                if r.get("client_bound_failures")
                else ""
            ),
        ]
        for r in results
    ]
    blocks.append(
        Table(
            ["server", "capacity (req/s)", "lowest failing rate (req/s)", "probes", "search"],
            rows,
            caption="Capacity at SLO",
        )
    )
    found = _capacities(capacity)
    pair_rows = [
        [f"{a} over {b}", _ratio_text(capacity, a, b)] for a, b in data.pairs if a in found and b in found
    ]
    if pair_rows:
        blocks.append(Table(["capacity ratio", "x"], pair_rows))
    probe_rows = []
    for r in results:
        for number, p in enumerate(r.get("probes") or [], 1):
            passed = p["requests"] > 0 and p["met_slo"] / p["requests"] >= share / 100 - 1e-12
            verdict = "pass" if passed else "fail"
            if p.get("ended_early"):
                verdict += ", ended early: failure certain"
            if passed and p.get("burst"):
                verdict += (
                    f" as a burst only (arrivals over {_rate(p.get('window_s'))} s, under "
                    f"{SUSTAINED_SPANS:g} x the median E2E {_rate(p.get('e2e_p50_s'))} s)"
                )
            probe_rows.append(
                [
                    str(r["target"]),
                    str(number),
                    _rate(p["rate"]),
                    f"{p['met_slo']} / {p['requests']}",
                    f"{100 * p['goodput_share']:.0f}%",
                    _rate(p.get("achieved_rate")),
                    verdict + (" (client-bound)" if p.get("client_bound") else ""),
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
