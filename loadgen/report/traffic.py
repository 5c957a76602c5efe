"""The traffic a verdict holds for, in words: "synthetic 128 in / 32 out, closed loop, concurrency 8".

Read from the run's `workload` (whatever it records: kind, lengths or length distributions, dataset),
its `request` (parallel sampling `n`) and the level's load. Keys a run does not have are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _length(workload: Mapping[str, Any], side: str) -> str | None:
    """`128`, or a distribution spec (`uniform:16,64`) as recorded."""
    for key in (f"{side}_len_dist", f"{side}_dist", f"{side}_length_dist"):
        spec = workload.get(key)
        if isinstance(spec, Mapping):
            spec = spec.get("spec") or spec.get("kind")
        if isinstance(spec, str) and spec:
            return spec.split(":", 1)[1] if spec.startswith("fixed:") else spec
    value = workload.get(f"{side}_len")
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def workload_text(workload: Mapping[str, Any]) -> str:
    """What was sent: `synthetic 128 in / 32 out`, `ShareGPT lengths`, `JSONL prompts (file.jsonl)`."""
    kind = str(workload.get("kind") or "unknown workload")
    if kind == "sharegpt":
        return "ShareGPT lengths"
    if kind == "jsonl":
        path = workload.get("dataset_path") or workload.get("path")
        return "JSONL prompts" + (f" ({str(path).rsplit('/', 1)[-1]})" if path else "")
    ins, outs = _length(workload, "input"), _length(workload, "output")
    if ins is None and outs is None:
        return kind
    return f"{kind} {ins or '?'} in / {outs or '?'} out"


def load_text(load: Mapping[str, Any]) -> str:
    """`closed loop, concurrency 8` or `open loop, poisson arrivals at 4 req/s (at most 16 in flight)`."""
    if load.get("mode") == "open":
        arrival = str(load.get("arrival") or "poisson")
        if arrival == "gamma":
            arrival = f"gamma (burstiness {float(load.get('burstiness') or 1):g})"
        text = f"open loop, {arrival} arrivals at {float(load.get('rate') or 0):g} req/s"
        cap = load.get("concurrency")
        return text + (f" (at most {cap} in flight)" if cap else "")
    return f"closed loop, concurrency {load.get('concurrency', '?')}"


def traffic_text(meta: Mapping[str, Any], load: Mapping[str, Any], repeats: int) -> str:
    """The whole description for the verdict line."""
    parts = [workload_text(meta.get("workload") or {})]
    n = (meta.get("request") or {}).get("n")
    if isinstance(n, int) and n > 1:
        parts[0] += f", {n} completions per request"
    parts.append(load_text(load))
    parts.append(f"{repeats} repeats" if repeats > 1 else "1 run")
    return ", ".join(parts)
