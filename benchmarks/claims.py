"""`claims.json`: published figures beside servebench's measurements (issues 11 and 12 share it).

A row is one published claim and what a comparison run measured in its setting:

    {"issue": 11, "id": "vllm-hf-n1-7b", "claim": "...", "source": "...", "setting": "...",
     "claimed_low": 14.0, "claimed_high": 24.0, "measured": 9.8, "unit": "x", "ci95": [8.9, 10.7],
     "notes": "...", "run_dir": "claims/n1-7b"}

`claimed_low`/`claimed_high` bound the published figure (equal for a single number, null for a
qualitative claim); `measured` is null when the run holds no figure for it (the notes say why);
`ci95` is a 95% confidence interval when the run repeated its levels (`loadgen compare --repeats`:
several summaries of one target and level) or when `--repeat-run` adds runs of the same setting
(throughput claims), else null. The claims themselves, with the metric that
measures each, are in `benchmarks/claims_catalog.py`.

    python -m benchmarks.claims add OUT/claims.json CLAIM_ID --run RUN_DIR [--run RUN_DIR2] [--level L]
        [--repeat-run RUN_DIR ...]   # runs of the same setting on other leases: repeats, an interval
    python -m benchmarks.claims render OUT/claims.json      # the README table, claimed beside measured

`add` replaces the row of the same id, so a re-run overwrites its rows.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from loadgen import errors
from loadgen.compare.capacity import SUSTAINED_SPANS
from loadgen.compare.capacity_saved import SavedCapacity, read_capacities, read_search
from loadgen.compare.capacity_saved import capacity_ratio as saved_ratio
from loadgen.report.data import level_value
from loadgen.report.drain import DRAIN_FLAG
from loadgen.report.steadiness import gpu_share, spread_text, unsteady
from loadgen.stats import DRAIN_QUANTILE

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
"""Two-sided 95% Student t quantiles by degrees of freedom (1.96 beyond)."""
MIN_GOOD_SHARE = 0.9
"""Capacity at SLO: the highest offered rate at which at least this share of requests met every SLO."""


@dataclass
class ClaimRow:
    """One published claim beside the measured figure."""

    issue: int
    id: str
    claim: str
    source: str
    setting: str
    claimed_low: float | None
    claimed_high: float | None
    measured: float | None
    unit: str
    ci95: tuple[float, float] | None = None
    notes: str = ""
    run_dir: str | None = None
    bound: Literal["lower", "upper"] | None = None
    """Set when `measured` is a bound, not an estimate: the true figure is at least (lower) or at
    most (upper) it, e.g. a capacity ratio where one server failed at every rate tried."""


@dataclass
class Measurement:
    """What a metric found: the figure, its interval, and how it was obtained."""

    value: float | None
    ci95: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    bound: Literal["lower", "upper"] | None = None
    """`value` is a bound on the figure, not an estimate of it."""


class ClaimError(ValueError):
    """A run directory or claim that cannot be measured (one line for the CLI)."""


# --- reading run directories -------------------------------------------------------------------


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def run_gpus(run_dir: Path) -> list[str]:
    """The GPUs `run.json` says the run had (`name (N MiB)`); empty for older runs or none."""
    machine = (_json(run_dir / "run.json") or {}).get("machine") or {}
    return [str(gpu) for gpu in machine.get("gpus") or []]


Runs = Path | Sequence[Path]
"""One run directory, or several runs of one setting (e.g. on separate leases) whose summaries of
the same target and level count as repeats of it."""


def _dirs(runs: Runs) -> list[Path]:
    return [runs] if isinstance(runs, Path) else list(runs)


def _named(runs: Runs) -> str:
    return ", ".join(str(d) for d in _dirs(runs))


def summaries(runs: Runs) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(target, level) -> its summaries in file order, run after run (several when repeated). A run
    with `--repeats` also writes each level's summary pooled over its repeats (`pooled`): that one is
    left out, since the repeats themselves are the samples."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run_dir in _dirs(runs):
        if not (run_dir / "run.json").is_file():
            raise ClaimError(f"{run_dir} is not a run directory (no run.json)")
        for path in sorted(run_dir.glob("summary-*.json")):
            summary = json.loads(path.read_text())
            if summary.get("pooled"):
                continue
            out.setdefault((str(summary["target"]), str(summary["level"])), []).append(summary)
    return out


def _level_load(summary: dict[str, Any]) -> float:
    load = summary.get("load") or {}
    return float(load.get("rate") or load.get("concurrency") or 0)


def level_order(run_dir: Runs) -> list[str]:
    """The run's level labels as its report orders them: from lowest to highest load, or, in an
    output-variance sweep (one run or its parts run apart), from the narrowest spread to the widest."""
    values: dict[str, float] = {}
    for (_, level), items in summaries(run_dir).items():
        values[level] = level_value(items[0])[1]
    return sorted(values, key=values.__getitem__)


def machines(runs: Runs) -> tuple[set[str], int]:
    """The distinct boot ids (`loadgen.provenance.boot_id`) of the runs' machines, and how many runs
    were saved without one."""
    booted: set[str] = set()
    unknown = 0
    for run_dir in _dirs(runs):
        boot = ((_json(run_dir / "run.json") or {}).get("machine") or {}).get("boot_id")
        if boot:
            booted.add(str(boot))
        else:
            unknown += 1
    return booted, unknown


def mean_ci95(values: Sequence[float]) -> tuple[float, tuple[float, float] | None]:
    """Mean and its 95% t interval (None for fewer than two values)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, (mean - half, mean + half)


# --- metrics -----------------------------------------------------------------------------------


def throughput_ratio(
    run_dir: Runs,
    level: str | None,
    subject: str = "vllm",
    baseline: str = "hf",
    metric: str = "output_throughput",
) -> Measurement:
    """subject / baseline `metric` at `level` (None: the run's highest load). With repeats (within a
    run, or several runs of one setting), the ratio of each repeat (paired in order) and their t
    interval; no interval when the runs come from different machines (`machines`), since it would
    mix the hosts' differences with run-to-run noise."""
    found = summaries(run_dir)
    level = level or level_order(run_dir)[-1]
    a, b = found.get((subject, level)), found.get((baseline, level))
    if not a or not b:
        return Measurement(
            None, notes=[f"no {subject} and {baseline} summaries at {level} in {_named(run_dir)}"]
        )
    ratios = [
        float(x[metric]) / float(y[metric])
        for x, y in zip(a, b, strict=False)
        if y.get(metric) and x.get(metric)
    ]
    if not ratios:
        return Measurement(None, notes=[f"no {metric} to divide at {level}"])
    value, ci = mean_ci95(ratios)
    failed = sum(int(s.get("failed") or 0) for s in [*a, *b])
    cancelled = sum(int((s.get("errors") or {}).get(errors.CANCELLED, 0)) for s in [*a, *b])
    notes = [
        f"{level}: {subject} {' / '.join(f'{x[metric]:,.0f}' for x in a)} vs "
        f"{baseline} {' / '.join(f'{y[metric]:,.0f}' for y in b)} {metric}"
    ]
    if len(ratios) > 1:
        runs = len(_dirs(run_dir))
        notes.append(f"mean of {len(ratios)} repeats" + (f" from {runs} runs" if runs > 1 else ""))
    booted, unknown = machines(run_dir)
    if len(booted) > 1:
        ci = None
        notes.append(
            f"the runs come from {len(booted)} machines (boot ids differ): no interval, since one over "
            "machines mixes their hosts' differences with run-to-run noise; pool runs from one machine"
        )
    elif unknown and len(_dirs(run_dir)) > 1:
        notes.append(
            f"{unknown} run(s) saved before run.json kept the machine's boot id: one machine not checked"
        )
    if failed > cancelled:
        notes.append(f"{failed - cancelled} failed request(s) at this level")
    if cancelled:
        notes.append(
            f"{cancelled} request(s) cancelled when the run was stopped (its time limit) before they "
            "finished: the level's window ends there"
        )
    if metric == "output_throughput":
        notes += _drain_notes(a, b, subject, baseline)
    notes += _unsteady_notes(run_dir, level, (subject, baseline))
    return Measurement(value, ci, notes)


def _unsteady_notes(runs: Runs, level: str, targets: Sequence[str]) -> list[str]:
    """A note per summary whose step time moved (`loadgen.report.steadiness`)."""
    notes = []
    for run_dir in _dirs(runs):
        for path in sorted(run_dir.glob("summary-*.json")):
            summary = json.loads(path.read_text())
            target = str(summary.get("target"))
            if target not in targets or summary.get("level") != level or summary.get("pooled"):
                continue
            spread = unsteady(summary, run_dir, target, level)
            if spread is not None:
                notes.append(
                    f"unsteady host in {run_dir.name}: for {target}, {gpu_share(summary)}, and "
                    f"{spread_text(spread)} (its figure follows the host's speed)"
                )
    return notes


def _drain_notes(a: list[dict[str, Any]], b: list[dict[str, Any]], subject: str, baseline: str) -> list[str]:
    """A note when either side's level was drain-bound (`loadgen.report.drain`): the ratio over the
    first 90% of output tokens beside the whole window's."""
    shares = {
        name: max(float(s.get("drain_share") or 0) for s in items)
        for name, items in ((subject, a), (baseline, b))
    }
    if max(shares.values()) < DRAIN_FLAG:
        return []
    before = [
        float(x["output_throughput_before_drain"]) / float(y["output_throughput_before_drain"])
        for x, y in zip(a, b, strict=False)
        if x.get("output_throughput_before_drain") and y.get("output_throughput_before_drain")
    ]
    first = f"{100 * DRAIN_QUANTILE:.0f}%"
    ratio = f"; over the first {first} of tokens {sum(before) / len(before):.1f}x" if before else ""
    return [
        f"drain: the last {100 * (1 - DRAIN_QUANTILE):.0f}% of output tokens took "
        + ", ".join(f"{100 * share:.0f}% of {name}'s window" for name, share in shares.items())
        + ratio
    ]


def target_throughput(run_dir: Runs, level: str | None, target: str) -> Measurement:
    """One target's output tok/s at `level` (None: the highest load), mean over repeats."""
    found = summaries(run_dir)
    level = level or level_order(run_dir)[-1]
    items = found.get((target, level))
    if not items:
        return Measurement(None, notes=[f"no {target} summary at {level} in {_named(run_dir)}"])
    value, ci = mean_ci95([float(s["output_throughput"]) for s in items])
    return Measurement(value, ci, [f"{target} at {level}"])


def _swept_runs(runs: Sequence[Path]) -> list[Path]:
    if not runs:
        raise ClaimError("the variance claims read the run of a variance sweep, or its parts (--run each)")
    return list(runs)


def ratio_extremes(*runs: Path, subject: str = "vllm", baseline: str = "hf") -> Measurement:
    """The largest subject / baseline throughput ratio over the levels of a run, or of the parts of
    one sweep run apart."""
    swept = _swept_runs(runs)
    ratios = {level: throughput_ratio(swept, level, subject, baseline).value for level in level_order(swept)}
    known = {k: v for k, v in ratios.items() if v is not None}
    if not known:
        return Measurement(None, notes=["no level with both targets"])
    top = max(known, key=known.__getitem__)
    listed = ", ".join(f"{k} {v:.2f}x" for k, v in known.items())
    return Measurement(known[top], notes=[f"largest at {top}; by level: {listed}"])


def throughput_change(*runs: Path, target: str = "hf") -> Measurement:
    """A target's throughput at the widest spread over the narrowest (below 1: it fell), in a run or
    over the parts of one sweep run apart; for other runs, at the last level over the first."""
    swept = _swept_runs(runs)
    order = level_order(swept)
    first, last = target_throughput(swept, order[0], target), target_throughput(swept, order[-1], target)
    if first.value is None or last.value is None or first.value == 0:
        return Measurement(None, notes=[*first.notes, *last.notes])
    return Measurement(
        last.value / first.value,
        notes=[f"{target}: {first.value:,.0f} tok/s at {order[0]} -> {last.value:,.0f} at {order[-1]}"],
    )


def _offline(run_dir: Path) -> dict[tuple[str, int], list[dict[str, Any]]]:
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for batch in _json(run_dir / "offline.json") or []:
        out.setdefault((str(batch["target"]), int(batch["batch_size"])), []).append(batch)
    return out


def offline_seconds(run_dir: Path, batch: int, target: str) -> Measurement:
    """Seconds a target took to finish a fixed batch (mean over repeats)."""
    items = _offline(run_dir).get((target, batch))
    if not items:
        return Measurement(None, notes=[f"no {target} batch of {batch} in {run_dir}"])
    value, ci = mean_ci95([float(b["seconds"]) for b in items])
    failed = sum(int(b.get("failed") or 0) for b in items)
    return Measurement(value, ci, [f"{failed} failed"] if failed else [])


def offline_ratio(run_dir: Path, batch: int, subject: str = "vllm", baseline: str = "hf") -> Measurement:
    """baseline seconds / subject seconds for a fixed batch (how many times faster the subject is)."""
    found = _offline(run_dir)
    a, b = found.get((subject, batch)), found.get((baseline, batch))
    if not a or not b:
        return Measurement(None, notes=[f"no batch of {batch} on both {subject} and {baseline}"])
    value, ci = mean_ci95([float(y["seconds"]) / float(x["seconds"]) for x, y in zip(a, b, strict=False)])
    return Measurement(
        value, ci, [f"batch {batch}: {subject} {a[0]['seconds']:.2f} s, {baseline} {b[0]['seconds']:.2f} s"]
    )


def load_time(run_dir: Path, target: str, which: str = "load_time_s") -> Measurement:
    """Launch to healthy (`load_time_s`) or to the first token (`first_token_s`) of a launched server.

    A vLLM restarted to fit its GPU budget (`loadgen.compare.budget`) served from a start whose
    compile caches its first start had just filled: its profiled start's times are the ones a
    deployment's start takes, so those are the figure, and the serving start's are noted."""
    meta = _json(run_dir / "run.json") or {}
    for server in meta.get("servers") or []:
        if server.get("name") == target:
            launch = server.get("launch") or {}
            other_key = "first_token_s" if which == "load_time_s" else "load_time_s"
            other_name = "first token" if which == "load_time_s" else "healthy"
            memory = launch.get("gpu_memory") or {}
            profiled = memory.get("profiled_start") or {}
            notes = []
            if memory.get("sized_by") == "restart" and profiled.get(which) is not None:
                served = launch.get(which)
                notes.append(
                    f"the start before its restart to fit the {memory.get('budget_gib')} GiB budget; the "
                    f"serving start, warm, took {'-' if served is None else f'{served:.1f}'} s"
                )
                launch = profiled
            value, other = launch.get(which), launch.get(other_key)
            if other:
                notes.insert(0, f"{other_name} after {other:.1f} s")
            return Measurement(None if value is None else float(value), notes=notes)
    return Measurement(None, notes=[f"{target} was not launched by the run in {run_dir}"])


def agreement(run_dir: Path, target: str = "vllm") -> Measurement:
    """Mean greedy common-prefix share of `target` against the run's baseline (its parity gate)."""
    parity = _json(run_dir / "parity.json") or {}
    for gate in parity.get("gates") or []:
        if gate.get("name") == "token_agreement":
            details = (gate.get("details") or {}).get("targets", {}).get(target)
            if details is None:
                return Measurement(
                    None, notes=[f"token agreement {gate.get('status')}: {gate.get('summary')}"]
                )
            return Measurement(
                100 * float(details["mean_prefix_agreement"]),
                notes=[f"{details['exact_matches']} of {details['prompts']} outputs identical"],
            )
    return Measurement(None, notes=["no token_agreement gate in the run"])


def run_tokenizer(run_dir: Path) -> Path | None:
    """The tokenizer a run's outputs are compared by: the one its `run.json` names (a path on the
    machine that ran it), else a `tokenizer.json` committed in the run directory or beside it (a
    results directory read on another machine); None when neither is there."""
    from loadgen.workloads.tokenizer import find_tokenizer

    named = (_json(run_dir / "run.json") or {}).get("tokenizer")
    for place in (named, run_dir, run_dir.parent):
        found = find_tokenizer(place) if place else None
        if found is not None:
            return found
    return None


def cross_run_agreement(run_a: Path, run_b: Path, target: str, tokenizer: str | None = None) -> Measurement:
    """Mean greedy common-prefix share between one target's parity outputs in two runs (e.g. fp16 vs
    fp32 on the same server and weights), tokenized with the run's tokenizer (`run_tokenizer`), or
    by characters where there is none; the notes say which."""
    from loadgen.compare.parity import Tokens, prefix_agreement

    def outputs(run_dir: Path) -> dict[int, str]:
        path = run_dir / "parity.jsonl"
        lines = path.read_text().splitlines() if path.is_file() else []
        records = [json.loads(line) for line in lines if line.strip()]
        return {int(r["index"]): r.get("output_text") or "" for r in records if r.get("target") == target}

    a, b = outputs(run_a), outputs(run_b)
    common = sorted(set(a) & set(b))
    if not common:
        return Measurement(None, notes=[f"no parity outputs of {target} in both runs"])
    tokens = Tokens(tokenizer or run_tokenizer(run_a))
    shares = [prefix_agreement(tokens.ids(a[i]), tokens.ids(b[i])) for i in common]
    exact = sum(tokens.ids(a[i]) == tokens.ids(b[i]) for i in common)
    notes = [f"{exact} of {len(common)} outputs identical", f"prefix in {tokens.unit}"]
    return Measurement(100 * statistics.fmean(shares), notes=notes)


def max_clean_level(runs: Runs, target: str) -> Measurement:
    """The highest concurrency at which `target` failed no request (and every lower level was clean
    too); a lower bound when no level failed. Several runs of one setting read as one sweep: their
    levels merge in load order (e.g. a finer sweep run later between the first run's levels), and a
    level run twice counts the failures of both."""
    found = summaries(runs)
    best: float | None = None
    first_failure = ""
    for level in level_order(runs):
        items = found.get((target, level))
        if not items:
            continue
        failed = sum(int(s.get("failed") or 0) for s in items)
        if failed:
            first_failure = f"first errors at {level}: {failed} failed"
            break
        best = _level_load(items[0])
    if first_failure:
        return Measurement(best, notes=[first_failure])
    return Measurement(best, notes=["no level failed: the figure is a lower bound"], bound="lower")


_KV_CACHE_SIZE = re.compile(r"KV cache size: ([\d,]+) tokens")


@dataclass(frozen=True)
class KvCacheRoom:
    """vLLM's KV cache as its log states it, and how many of a run's requests it holds at once."""

    tokens: int
    tokens_per_request: int | None
    """The run's input + output length; None where its workload has no fixed lengths."""

    @property
    def requests(self) -> int | None:
        """Requests of the run's length the cache holds at once."""
        return self.tokens // self.tokens_per_request if self.tokens_per_request else None

    def text(self) -> str:
        """The note: "vLLM's log: a KV cache of N tokens, room for M requests of L tokens at once"."""
        text = f"vLLM's log: a KV cache of {self.tokens:,} tokens"
        if self.requests is not None:
            text += f", room for {self.requests:,} requests of {self.tokens_per_request:,} tokens at once"
        return text


def kv_cache_room(runs: Runs) -> KvCacheRoom | None:
    """vLLM's KV cache size from the run's `logs/vllm.log` ("GPU KV cache size: N tokens"), against
    the run's request length: vLLM queues what its cache cannot hold rather than failing it, so its
    highest error-free level alone is only a lower bound. Of several runs, the first whose log states
    it. None without the line."""
    for run_dir in _dirs(runs):
        try:
            log = (run_dir / "logs" / "vllm.log").read_text(errors="replace")
        except OSError:
            continue
        sizes = _KV_CACHE_SIZE.findall(log)
        if sizes:
            return _room(run_dir, int(sizes[-1].replace(",", "")))
    return None


def _room(run_dir: Path, tokens: int) -> KvCacheRoom:
    """A cache of `tokens` against the request length of the run in `run_dir`."""
    workload = (_json(run_dir / "run.json") or {}).get("workload") or {}
    per_request = None
    if workload.get("input_len") and workload.get("output_len"):
        per_request = int(workload["input_len"]) + int(workload["output_len"])
    return KvCacheRoom(tokens, per_request)


def hf_max_clean_level(*runs: Path) -> Measurement:
    """`max_clean_level` of the HF server over one run or several."""
    return max_clean_level(runs, "hf")


def vllm_max_clean_level(*runs: Path) -> Measurement:
    """`max_clean_level` of vLLM over one run or several, with the room its KV cache has for the
    run's requests in the notes."""
    found = max_clean_level(runs, "vllm")
    room = kv_cache_room(runs)
    return replace(found, notes=[*found.notes, room.text()] if room else found.notes)


def clean_level_ratio(*runs: Path, subject: str = "vllm", baseline: str = "hf") -> Measurement:
    """subject's highest error-free concurrency over the baseline's, in one run or several read as
    one sweep (`max_clean_level`): a lower bound when only the subject failed no level, an upper
    bound when only the baseline did, none when neither did (the levels stopped short of both);
    where the subject is vLLM and its log states its KV cache, the notes add that cache's room over
    the baseline's level too."""
    a, b = max_clean_level(runs, subject), max_clean_level(runs, baseline)
    if not a.value or not b.value:
        return Measurement(None, notes=[*a.notes, *b.notes])
    notes = [f"{subject} {a.value:g} ({a.notes[0]}), {baseline} {b.value:g} ({b.notes[0]})"]
    room = kv_cache_room(runs) if subject == "vllm" else None
    if room is not None and room.requests:
        notes.append(f"{room.text()}: {room.requests / b.value:.2g}x {baseline}'s {b.value:g} by that count")
    ratio = saved_ratio(a, b)
    if ratio.conflict:
        notes.append("neither failed at the highest level run: no ratio (run higher levels)")
        return Measurement(None, notes=notes)
    return Measurement(ratio.value, bound=ratio.bound, notes=notes)


def capacity(run_dir: Path, target: str) -> Measurement:
    """Capacity at SLO. From the run's capacity search (`capacity.json`, `--capacity-search`) where it
    has one: the highest rate that passed on a probe that was not a burst (`ProbeResult.burst`), a
    lower bound if that was the search's top rate, or an upper bound (the lowest rate tried) when
    every probe failed. Else the highest offered request rate among the run's open-loop levels
    at which at least 90% of the target's requests met every SLO (goodput x duration / requests)."""
    searched = read_capacities(run_dir)
    if searched is not None:
        return _searched_capacity(searched.get(target), target)
    best: float | None = None
    for (name, _), items in summaries(run_dir).items():
        for s in items:
            load = s.get("load") or {}
            if name != target or load.get("mode") != "open" or s.get("request_goodput") is None:
                continue
            total = int(s.get("completed") or 0) + int(s.get("failed") or 0)
            good = float(s["request_goodput"]) * float(s.get("duration") or 0)
            if total and good / total >= MIN_GOOD_SHARE:
                best = max(best or 0.0, float(load["rate"]))
    if best is None:
        return Measurement(None, notes=[f"no open-loop level of {target} met the SLOs (or none with SLOs)"])
    return Measurement(best, notes=[f"{target}: {best:g} req/s"])


def _searched_capacity(found: SavedCapacity | None, target: str) -> Measurement:
    if found is None:
        return Measurement(None, notes=[f"the capacity search has no {target}"])
    burst_note = (
        f"; passed only as a burst at {', '.join(f'{r:g}' for r in found.burst_rps)} req/s (arrivals "
        f"spanning less than {SUSTAINED_SPANS:g} median latencies: not a rate it sustains)"
        if found.burst_rps
        else ""
    )
    rate, probes, failing = found.value, len(found.probes), found.lowest_failing_rps
    if rate is not None and found.bound == "upper":
        return Measurement(
            rate,
            bound="upper",
            notes=[
                f"{target}: below {rate:g} req/s (failed at every rate tried, {probes} probes{burst_note})"
            ],
        )
    cut = [p.rate for p in found.probes if p.interrupted]
    if cut:
        burst_note += f"; the probe at {cut[-1]:g} req/s was interrupted by the run's stop (no verdict)"
    if rate is not None:
        detail = ""
        if found.bound == "lower":
            top = rate == max(p.rate for p in found.probes)
            detail = "; passed at the highest rate tried" if top else "; at least this: no rate failed"
        if failing and found.bound is None:
            detail = f"; lowest failing {failing:g} req/s"
        return Measurement(
            rate, bound=found.bound, notes=[f"{target}: {rate:g} req/s ({probes} probes{detail}{burst_note})"]
        )
    return Measurement(None, notes=[f"{target}: no sustained capacity (search {found.stopped}{burst_note})"])


def capacity_ratio(run_dir: Path, subject: str = "vllm", baseline: str = "hf") -> Measurement:
    """subject's capacity at SLO over the baseline's; a lower bound when the subject's is one or the
    baseline's is an upper bound (it failed at every rate tried), an upper bound the other way
    (`loadgen.compare.capacity_saved.capacity_ratio`)."""
    a, b = capacity(run_dir, subject), capacity(run_dir, baseline)
    search = read_search(run_dir)
    searched = (
        [f"searched {float(search['min_rate']):g}–{float(search['max_rate']):g} req/s"]
        if search and search.get("min_rate") is not None and search.get("max_rate") is not None
        else []
    )
    notes = [*searched, *a.notes, *b.notes]
    ratio = saved_ratio(a, b)
    if ratio.conflict:
        return Measurement(None, notes=[*notes, "both capacities are bounds the other way: no ratio"])
    return Measurement(ratio.value, bound=ratio.bound, notes=notes)


# --- claims.json -------------------------------------------------------------------------------


def read_rows(path: Path) -> list[ClaimRow]:
    """The rows of a `claims.json` (none if it does not exist)."""
    raw = _json(path) or []
    rows = []
    for item in raw:
        ci = item.get("ci95")
        rows.append(ClaimRow(**{**item, "ci95": tuple(ci) if ci else None}))
    return rows


def write_rows(path: Path, rows: Sequence[ClaimRow]) -> None:
    """Write rows sorted by issue, keeping their order otherwise."""
    ordered = sorted(rows, key=lambda r: r.issue)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in ordered], indent=2) + "\n")


def upsert(path: Path, row: ClaimRow) -> list[ClaimRow]:
    """Add `row` to `claims.json`, replacing the row of the same id."""
    rows = [r for r in read_rows(path) if r.id != row.id]
    rows.append(row)
    write_rows(path, rows)
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def claimed_text(row: ClaimRow) -> str:
    """`14–24`, `2.32`, `up to 23` or `–`."""
    low, high = row.claimed_low, row.claimed_high
    if low is None and high is None:
        return "–"
    if low is None:
        return f"up to {_number(high)}"
    if high is None or high == low:
        return _number(low) if high is not None else f"≥ {_number(low)}"
    return f"{_number(low)}–{_number(high)}"


def measured_text(row: ClaimRow) -> str:
    """`27.7 (19.1–36.3)`, `≥ 32`, `≤ 0.25` or `–`: the figure, its bound sign and interval."""
    measured = _number(row.measured)
    if row.bound is not None and row.measured is not None:
        measured = ("≥ " if row.bound == "lower" else "≤ ") + measured
    if row.ci95 is not None:
        measured += f" ({_number(row.ci95[0])}–{_number(row.ci95[1])})"
    return measured


def render(rows: Sequence[ClaimRow]) -> str:
    """The README table: claim, setting, claimed beside measured (with its interval), notes."""
    lines = [
        "| issue | claim | source | setting | claimed | measured | unit | notes |",
        "|---:|---|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        cells = [
            str(r.issue),
            r.claim,
            r.source,
            r.setting,
            claimed_text(r),
            measured_text(r),
            r.unit,
            r.notes,
        ]
        lines.append(table_line(cells))
    return "\n".join(lines) + "\n"


def table_line(cells: Sequence[str]) -> str:
    """One markdown table row; a `|` or newline inside a cell would break the table, so they become
    `/` and a space."""
    return "| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |"


def build_parser() -> argparse.ArgumentParser:
    """The command line (also used to check the GPU scripts' command lines)."""
    from benchmarks.claims_catalog import CATALOG

    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="measure a catalogued claim from run directories into claims.json")
    add.add_argument("claims", type=Path)
    add.add_argument("claim_id", choices=sorted(CATALOG))
    add.add_argument("--run", type=Path, action="append", default=[], help="run directory (twice for two)")
    add.add_argument(
        "--repeat-run",
        type=Path,
        action="append",
        default=[],
        help="another run of the same setting (e.g. another lease): its summaries count as repeats",
    )
    add.add_argument("--level", help="level label, e.g. concurrency=1000 [default: the run's highest load]")
    add.add_argument(
        "--note", action="append", default=[], help="appended to the row's notes (repeatable: joined by '; ')"
    )
    show = commands.add_parser("render", help="print the markdown table of a claims.json")
    show.add_argument("claims", type=Path)
    merge = commands.add_parser("merge", help="join the claims.json files of several device calls")
    merge.add_argument("claims", type=Path, help="the joined file (its rows are kept unless replaced)")
    merge.add_argument("sources", type=Path, nargs="+", help="later files replace rows of the same id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `add` a measured row, `merge` files, or `render` the table."""
    from benchmarks.claims_catalog import CATALOG, measure

    args = build_parser().parse_args(argv)
    if args.command == "render":
        sys.stdout.write(render(read_rows(args.claims)))
        return 0
    if args.command == "merge":
        for source in args.sources:
            for row in read_rows(source):
                upsert(args.claims, row)
        print(f"{len(read_rows(args.claims))} rows in {args.claims}")
        return 0
    try:
        row = measure(
            CATALOG[args.claim_id], args.run, args.level, "; ".join(args.note), repeats=args.repeat_run
        )
    except (ClaimError, FileNotFoundError) as exc:
        print(f"claims: {exc}", file=sys.stderr)
        return 2
    upsert(args.claims, row)
    print(render([row]).splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
