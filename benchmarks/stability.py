"""HF-baseline stability: two back-to-back comparisons on one machine, level by level.

Reads two `loadgen compare` run directories (made by `benchmarks/gpu_host.sh stability`) and writes
`stability.json` with, for each run, level and server, the output tok/s and, for the HF server, the
decode ms/step of the batches it formed (median and max, from its own `/batches` record, saved by the
comparison as `batches-*.json`). Three targets from docs/hf-server.md are checked and printed:

- no HF batch's decode ms/step (its mean over its steps) above 1.5x the median of the batches of the
  same size, both runs pooled;
- HF output tok/s at every level within 10% between the two runs; vLLM's too;
- fixed batches: the same, on the time to finish each batch.

    python -m benchmarks.stability RUN_A RUN_B [--out stability.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import table

SLOW_FACTOR = 1.5
RUN_TO_RUN = 0.10


def level_throughputs(run: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(level, server) -> output tok/s and the server's batch digest, from a run's summaries."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(run.glob("summary-*.json")):
        s = json.loads(path.read_text())
        out[(str(s["level"]), str(s["target"]))] = {
            "output_tok_s": s.get("output_throughput"),
            "completed": s.get("completed"),
            "failed": s.get("failed"),
            "server_batches": s.get("server_batches"),
        }
    return out


def offline_results(run: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(`batch=N`, server) -> seconds, output tok/s and batch digest of the run's fixed batches."""
    path = run / "offline.json"
    if not path.is_file():
        return {}
    return {
        (f"batch={b['batch_size']}", str(b["target"])): {
            "seconds": b["seconds"],
            "output_tok_s": b["output_tokens_per_s"],
            "server_batches": b.get("server_batches"),
        }
        for b in json.loads(path.read_text())
    }


def batch_records(run: Path) -> list[dict[str, Any]]:
    """Every batch record the HF server kept during the run (parity probe excluded)."""
    records: list[dict[str, Any]] = []
    for path in sorted(run.glob("batches-*.json")):
        data = json.loads(path.read_text())
        if data.get("label") == "parity":
            continue
        for record in data["batches"]:
            records.append({**record, "run": run.name, "label": data["label"]})
    return records


def _mean_step_ms(record: dict[str, Any]) -> float | None:
    value = record.get("decode_step_s_mean")
    return None if value is None else float(value) * 1e3


def slow_batches(records: list[dict[str, Any]]) -> tuple[dict[int, float], list[dict[str, Any]]]:
    """Median ms/step per batch size, and the batches above `SLOW_FACTOR` times their size's median."""
    by_rows: dict[int, list[float]] = defaultdict(list)
    for record in records:
        ms = _mean_step_ms(record)
        if ms is not None:
            by_rows[int(record["rows"])].append(ms)
    medians = {rows: statistics.median(values) for rows, values in sorted(by_rows.items())}
    slow = []
    for record in records:
        ms = _mean_step_ms(record)
        if ms is not None and ms > SLOW_FACTOR * medians[int(record["rows"])]:
            slow.append(
                {
                    "run": record["run"],
                    "label": record["label"],
                    "batch_id": record["batch_id"],
                    "rows": record["rows"],
                    "ms_per_step": ms,
                    "median_for_size": medians[int(record["rows"])],
                }
            )
    return medians, slow


def _change(a: float | None, b: float | None) -> float | None:
    if not a or b is None:
        return None
    return (b - a) / a


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """The stability record of two runs."""
    rows: list[dict[str, Any]] = []
    for kind, read, key in (
        ("level", level_throughputs, "output_tok_s"),
        ("fixed batch", offline_results, "seconds"),
    ):
        a, b = read(run_a), read(run_b)
        for label, server in sorted(set(a) & set(b), key=lambda k: (k[1], k[0])):
            first, second = a[(label, server)], b[(label, server)]
            digests = [first.get("server_batches") or {}, second.get("server_batches") or {}]
            rows.append(
                {
                    "kind": kind,
                    "label": label,
                    "server": server,
                    "output_tok_s": [first["output_tok_s"], second["output_tok_s"]],
                    "seconds": [first.get("seconds"), second.get("seconds")],
                    "compared": key,
                    "change": _change(first[key], second[key]),
                    "decode_step_ms_p50": [d.get("decode_step_ms_p50") for d in digests],
                    "decode_step_ms_max": [d.get("decode_step_ms_max") for d in digests],
                    "batches": [d.get("batches") for d in digests],
                }
            )
    medians, slow = slow_batches(batch_records(run_a) + batch_records(run_b))
    unstable = [r for r in rows if r["change"] is not None and abs(r["change"]) > RUN_TO_RUN]
    return {
        "runs": [str(run_a), str(run_b)],
        "rows": rows,
        "hf_median_ms_per_step_by_batch_size": medians,
        "slow_batches": slow,
        "targets": {
            "no_slow_batch": {"met": not slow, "factor": SLOW_FACTOR, "count": len(slow)},
            "run_to_run_within_10pct": {
                "met": not unstable,
                "outside": [f"{r['server']} {r['label']}: {r['change']:+.1%}" for r in unstable],
            },
        },
    }


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(result: dict[str, Any]) -> None:
    """The table and the targets' verdicts."""
    print(
        table(
            ["level", "server", "tok/s run A", "tok/s run B", "change", "ms/step p50 A/B", "max step ms A/B"],
            [
                [
                    r["label"],
                    r["server"],
                    _fmt(r["output_tok_s"][0], ",.0f"),
                    _fmt(r["output_tok_s"][1], ",.0f"),
                    ("time " if r["compared"] == "seconds" else "") + _fmt(r["change"], "+.1%"),
                    "/".join(_fmt(v, ".1f") for v in r["decode_step_ms_p50"]),
                    "/".join(_fmt(v, ".1f") for v in r["decode_step_ms_max"]),
                ]
                for r in result["rows"]
            ],
        )
    )
    targets = result["targets"]
    slow = targets["no_slow_batch"]
    print(
        f"HF batches above {SLOW_FACTOR}x their size's median ms/step: {slow['count']} "
        f"({'met' if slow['met'] else 'NOT met'})"
    )
    for batch in result["slow_batches"][:20]:
        print(
            f"  {batch['run']} {batch['label']} batch {batch['batch_id']} ({batch['rows']} rows): "
            f"{batch['ms_per_step']:.1f} ms/step vs median {batch['median_for_size']:.1f}"
        )
    within = targets["run_to_run_within_10pct"]
    verdict = "met" if within["met"] else "NOT met: " + "; ".join(within["outside"])
    print(f"run to run within {RUN_TO_RUN:.0%}: {verdict}")


def main(argv: Sequence[str] | None = None) -> None:
    """Compare two runs, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--out", type=Path, default=Path("stability.json"))
    args = parser.parse_args(argv)
    for run in (args.run_a, args.run_b):
        if not (run / "run.json").is_file():
            parser.error(f"{run} is not a comparison run directory (no run.json)")
    result = compare_runs(args.run_a, args.run_b)
    print_report(result)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
