"""Repeats of a level: how each run is named and tagged, and the pooled summary of a level's repeats.

With `--repeats R` every level runs R times on every target. Each run's summary carries `repeat`
(0-based), `repeats` and `id_prefix` (the prefix of its requests' ids in `requests.jsonl`, which is
how the report finds each repeat's requests again); a level re-run because it was client-bound
carries `attempt: 2`. After the last repeat the target's pooled summary (every measured request of
every repeat; throughputs over the summed measured windows) is written with `pooled: true`: it is
the level's figure in the report tables, and the bootstrap gives its interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadgen.runner import LevelResult
from loadgen.stats import DRAIN_QUANTILE, SLO, summarize


def run_prefix(target: str, number: int, repeat: int, repeats: int, attempt: int) -> str:
    """The request-id prefix of one run: `vllm-2` (level 2), `vllm-2-r1` (its second repeat), `-a2`."""
    prefix = f"{target}-{number}"
    if repeats > 1:
        prefix += f"-r{repeat}"
    if attempt > 1:
        prefix += f"-a{attempt}"
    return prefix


def tag_run(summary: dict[str, Any], *, prefix: str, repeat: int, repeats: int, attempt: int) -> None:
    """Record which run of the level this summary is."""
    summary["id_prefix"] = prefix
    if repeats > 1:
        summary["repeat"] = repeat
        summary["repeats"] = repeats
    if attempt > 1:
        summary["attempt"] = attempt


def _worst_selfcheck(results: Sequence[LevelResult]) -> dict[str, Any]:
    bound = [r for r in results if r.selfcheck.client_bound]
    if bound:
        return bound[0].selfcheck.to_dict()
    return max(results, key=lambda r: r.selfcheck.loop_lag_p99_ms or 0.0).selfcheck.to_dict()


def _pooled_drain(results: Sequence[LevelResult]) -> dict[str, float | None]:
    """`drain_share` and `output_throughput_before_drain` over the repeats: each repeat drains on its
    own, so the time before each one's drain adds up (the pooled records' one timeline would hold the
    gaps between repeats)."""
    shares = [r.summary.get("drain_share") for r in results]
    if any(not isinstance(share, int | float) for share in shares):
        return {"drain_share": None, "output_throughput_before_drain": None}
    before = [r.duration_s * (1 - float(share or 0)) for r, share in zip(results, shares, strict=True)]
    duration = sum(r.duration_s for r in results)
    tokens = sum(int(r.summary.get("total_output_tokens") or 0) for r in results)
    return {
        "drain_share": 1 - sum(before) / duration if duration > 0 else None,
        "output_throughput_before_drain": DRAIN_QUANTILE * tokens / sum(before) if sum(before) > 0 else None,
    }


def pool_repeats(
    results: Sequence[LevelResult],
    *,
    percentiles: Sequence[float],
    slo: SLO | None,
    attempt: int = 1,
) -> dict[str, Any]:
    """One target's summary over all repeats of a level (same keys as a run's summary, plus `pooled`)."""
    if not results:
        raise ValueError("no runs to pool")
    records = [record for result in results for record in result.records]
    duration = sum(result.duration_s for result in results)
    summary = summarize(records, duration_s=duration, percentiles=percentiles, slo=slo)
    first = results[0].summary
    weights = [r.duration_s for r in results]
    concurrencies = [float(r.summary.get("achieved_concurrency") or 0.0) for r in results]
    summary.update(
        achieved_concurrency=(
            sum(w * c for w, c in zip(weights, concurrencies, strict=True)) / duration
            if duration > 0
            else 0.0
        ),
        max_concurrent_requests=max(int(r.summary.get("max_concurrent_requests") or 0) for r in results),
        max_output_tokens_per_s=max(float(r.summary.get("max_output_tokens_per_s") or 0) for r in results),
        **_pooled_drain(results),
        target=first["target"],
        level=first["level"],
        label=first["label"],
        load=first["load"],
        request=first["request"],
        selfcheck=_worst_selfcheck(results),
        client_bound=any(r.selfcheck.client_bound for r in results),
        client_bound_repeats=[
            int(r.summary.get("repeat", i)) for i, r in enumerate(results) if r.selfcheck.client_bound
        ],
        interrupted=any(r.interrupted for r in results),
        pooled=True,
        repeats=len(results),
        id_prefixes=[r.summary.get("id_prefix") for r in results],
    )
    if attempt > 1:
        summary["attempt"] = attempt
    return summary
