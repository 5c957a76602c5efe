"""The HF server's decode step, run by run, from saved `/batches` records: did a level's setting
change the step, or did the host move between the runs?

On one H100 lease the HF server's median step at 7 rows of the LLaMA-7B shape was 24.2 ms at
concurrency 16 and 20.7 ms at concurrency 64 in the next device call, over the same prompts at the
same GPU clocks (docs/results/2026-12-06e-claims-7b-sweep); another lease's concurrency-16 level read
24.5 ms. Two runs cannot tell the level from the host. Runs of two levels taken in turn on one
server process (16, 64, 16, 64) can: if every run of one level stepped slower than every run of
the other, in turn, the level did it; if the runs overlap, it was not the level.

    python -m benchmarks.batch_steps c16=b1.json c64=b2.json c16=b3.json c64=b4.json [--json]

Each FILE is a `/batches` answer or a comparison's `batches-NN-<target>-<label>.json`, given in the
order the runs were made; LABEL names its level.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import table
from loadgen.compare.server_batches import read_batch_file, step_spread

LEVEL_EFFECT = 1.05
"""Two levels differ when one's median step is at least this many times the other's and their runs
do not overlap."""


class StepsError(Exception):
    """An argument that is not LABEL=FILE."""


def run_steps(label: str, batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One run's step: `label`, and `step_spread`'s rows, batches, median and range (None values
    when it has fewer than 3 comparable batches)."""
    spread = step_spread(batches) or {}
    return {
        "label": label,
        "rows": spread.get("rows"),
        "batches": spread.get("batches", 0),
        "median_ms": spread.get("median_ms"),
        "min_ms": spread.get("min_ms"),
        "max_ms": spread.get("max_ms"),
    }


def verdict(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Whether two labels' steps differ: `labels`, each label's median over its runs' medians,
    `ratio` (slower over faster), `separated` (every run of the slower label slower than every run
    of the faster one), `level_effect`, and a sentence. Needs two labels with two runs each."""
    by_label: dict[str, list[float]] = {}
    for run in runs:
        if run["median_ms"] is not None:
            by_label.setdefault(run["label"], []).append(float(run["median_ms"]))
    if len(by_label) != 2:
        return {"level_effect": None, "text": f"needs runs of two levels, got {len(by_label)}"}
    (a, a_ms), (b, b_ms) = sorted(by_label.items(), key=lambda kv: statistics.median(kv[1]))
    fast, slow = statistics.median(a_ms), statistics.median(b_ms)
    result: dict[str, Any] = {"labels": [a, b], "median_ms": {a: fast, b: slow}, "ratio": slow / fast}
    if min(len(a_ms), len(b_ms)) < 2:
        return {
            **result,
            "separated": None,
            "level_effect": None,
            "text": f"{b} {slow:.1f} ms against {a} {fast:.1f}: one run of a level cannot tell it "
            "from the host",
        }
    separated = max(a_ms) < min(b_ms)
    effect = separated and slow / fast >= LEVEL_EFFECT
    if effect:
        text = (
            f"the level: every run at {b} stepped slower than every run at {a} ({slow:.1f} against "
            f"{fast:.1f} ms, {slow / fast:.2f}x), taken in turn on one server"
        )
    else:
        why = f"runs apart by less than {LEVEL_EFFECT:g}x" if separated else "the runs overlap"
        text = f"not the level: {b} {slow:.1f} ms against {a} {fast:.1f} ({slow / fast:.2f}x), {why}"
    return {**result, "separated": separated, "level_effect": effect, "text": text}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def build_parser() -> argparse.ArgumentParser:
    """The command line (also used to check the GPU script's command lines)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.batch_steps", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("runs", nargs="+", metavar="LABEL=FILE", help="in the order the runs were made")
    parser.add_argument("--json", action="store_true", help="print the runs and the verdict as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: a row per run, then the verdict; a one-line error (exit 2) for a bad argument or file."""
    args = build_parser().parse_args(argv)
    runs = []
    try:
        for item in args.runs:
            label, sep, name = item.partition("=")
            if not sep or not label or not name:
                raise StepsError(f"{item!r}: expected LABEL=FILE")
            runs.append(run_steps(label, read_batch_file(Path(name))))
    except (StepsError, ValueError) as exc:
        print(f"batch_steps: {exc}", file=sys.stderr)
        return 2
    found = verdict(runs)
    if args.json:
        print(json.dumps({"runs": runs, "verdict": found}, indent=2))
        return 0
    print(
        table(
            ["run", "level", "rows", "batches", "median ms", "range ms"],
            [
                [
                    str(n),
                    r["label"],
                    "-" if r["rows"] is None else str(r["rows"]),
                    str(r["batches"]),
                    _ms(r["median_ms"]),
                    f"{_ms(r['min_ms'])}-{_ms(r['max_ms'])}",
                ]
                for n, r in enumerate(runs, 1)
            ],
        )
    )
    print(found["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
