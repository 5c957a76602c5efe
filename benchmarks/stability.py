"""HF-baseline stability: back-to-back comparisons on one machine, level by level.

Reads two or more `loadgen compare` run directories (made by `benchmarks/gpu_host.sh stability`) and writes
`stability.json` with, for each run, level and server, the output tok/s and, for the HF server, the
decode ms/step of the batches it formed (median and max, from its own `/batches` record, saved by the
comparison as `batches-*.json`). Three targets from docs/hf-server.md are checked and printed:

- no HF batch's decode ms/step (its mean over its steps) above 1.5x the median of the batches of the
  same size, both runs pooled;
- HF output tok/s at every level within 10% between the runs (each later run against the first);
  vLLM's too;
- fixed batches: the same, on the time to finish each batch.

Where the runs sampled the GPU (`loadgen compare --gpu-monitor`), each row also gives the GPU's busy
share per run, and the host-bound level runs are counted: figures the host's speed sets drift with it.

It also gives the ratio a comparison publishes, vLLM over HF, run by run, with its mean and 95% t
interval over the runs.

    python -m benchmarks.stability RUN_A RUN_B [RUN_C ...] [--out stability.json]
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
from benchmarks.claims import mean_ci95

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
            "gpu": s.get("gpu"),
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
            "gpu": b.get("gpu"),
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


def _label_order(label: str) -> tuple[str, float]:
    """`concurrency=4` before `concurrency=16`: by name, then by number."""
    name, _, value = label.partition("=")
    try:
        return name, float(value)
    except ValueError:
        return label, 0.0


def _largest(changes: list[float | None]) -> float | None:
    known = [c for c in changes if c is not None]
    return max(known, key=abs) if known else None


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """vLLM over HF, run by run, for every level and fixed batch both servers ran in every run: output
    tok/s for a level, HF's seconds over vLLM's for a fixed batch; mean and 95% t interval over runs."""
    by_key = {(r["kind"], r["label"], r["server"]): r for r in rows}
    out = []
    for (kind, label, server), hf in by_key.items():
        vllm = by_key.get((kind, label, "vllm"))
        if server != "hf" or vllm is None:
            continue
        if kind == "level":
            pairs = zip(vllm["output_tok_s"], hf["output_tok_s"], strict=True)
        else:
            pairs = zip(hf["seconds"], vllm["seconds"], strict=True)
        per_run = [a / b if a is not None and b else None for a, b in pairs]
        known = [r for r in per_run if r is not None]
        mean, ci95 = mean_ci95(known) if known else (None, None)
        out.append({"kind": kind, "label": label, "vllm_over_hf": per_run, "mean": mean, "ci95": ci95})
    return out


def compare_runs(runs: Sequence[Path]) -> dict[str, Any]:
    """The stability record of two or more runs of one comparison, each later run against the first."""
    if len(runs) < 2:
        raise ValueError("stability needs at least two runs")
    rows: list[dict[str, Any]] = []
    for kind, read, key in (
        ("level", level_throughputs, "output_tok_s"),
        ("fixed batch", offline_results, "seconds"),
    ):
        found = [read(run) for run in runs]
        common = set.intersection(*(set(f) for f in found))
        for label, server in sorted(common, key=lambda k: (k[1], _label_order(k[0]))):
            results = [f[(label, server)] for f in found]
            digests = [r.get("server_batches") or {} for r in results]
            changes = [_change(results[0][key], r[key]) for r in results[1:]]
            rows.append(
                {
                    "kind": kind,
                    "label": label,
                    "server": server,
                    "output_tok_s": [r["output_tok_s"] for r in results],
                    "seconds": [r.get("seconds") for r in results],
                    "compared": key,
                    "changes": changes,
                    "change": _largest(changes),
                    "decode_step_ms_p50": [d.get("decode_step_ms_p50") for d in digests],
                    "decode_step_ms_max": [d.get("decode_step_ms_max") for d in digests],
                    "batches": [d.get("batches") for d in digests],
                    "gpu_busy_pct": [(r.get("gpu") or {}).get("busy_pct") for r in results],
                    "host_bound": [(r.get("gpu") or {}).get("host_bound") for r in results],
                }
            )
    medians, slow = slow_batches([record for run in runs for record in batch_records(run)])
    unstable = [r for r in rows if r["change"] is not None and abs(r["change"]) > RUN_TO_RUN]
    return {
        "runs": [str(run) for run in runs],
        "rows": rows,
        "vllm_over_hf": _ratios(rows),
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


def _joined(values: Sequence[Any], spec: str) -> str:
    return " / ".join(_fmt(v, spec) for v in values)


def print_report(result: dict[str, Any]) -> None:
    """The tables and the targets' verdicts."""
    names = "/".join(Path(run).name.removeprefix("stability-") for run in result["runs"])
    print(
        table(
            [
                "level",
                "server",
                f"tok/s {names}",
                "change vs first",
                f"ms/step p50 {names}",
                "max step ms",
                "GPU busy %",
            ],
            [
                [
                    r["label"],
                    r["server"],
                    _joined(r["output_tok_s"], ",.0f"),
                    ("time " if r["compared"] == "seconds" else "") + _joined(r["changes"], "+.1%"),
                    _joined(r["decode_step_ms_p50"], ".1f"),
                    _joined(r["decode_step_ms_max"], ".1f"),
                    _joined(r["gpu_busy_pct"], ".0f"),
                ]
                for r in result["rows"]
            ],
        )
    )
    print()
    print(
        table(
            ["level", f"vLLM / HF {names}", "mean", "95% interval"],
            [
                [
                    r["label"],
                    _joined(r["vllm_over_hf"], ".2f"),
                    _fmt(r["mean"], ".2f"),
                    "-" if r["ci95"] is None else f"{r['ci95'][0]:.2f}-{r['ci95'][1]:.2f}",
                ]
                for r in result["vllm_over_hf"]
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
    judged = [flag for r in result["rows"] for flag in r["host_bound"] if flag is not None]
    if judged:
        print(
            f"host-bound (GPU busy under half the time, from `loadgen compare`'s GPU monitor): "
            f"{sum(judged)} of {len(judged)} level runs; their figures follow the host's speed"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Compare the runs, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="two or more comparison run directories")
    parser.add_argument("--out", type=Path, default=Path("stability.json"))
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("give at least two run directories")
    for run in args.runs:
        if not (run / "run.json").is_file():
            parser.error(f"{run} is not a comparison run directory (no run.json)")
    result = compare_runs(args.runs)
    print_report(result)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
