"""The output-length variance sweep (`--sweep output-variance`): the continuous-batching study's
experiment. Every level asks for the same mean output length with a growing spread (fixed, then
uniform, then exponential: coefficients of variation 0, about 0.58 and about 1), at one concurrency,
on every server. Naive (static) batching holds a batch until its longest request ends, so its
throughput falls as the spread grows; continuous batching refills a finished slot at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from loadgen.compare.levels import SweepLevel
from loadgen.run_config import LoadSpec
from loadgen.workloads.base import Prompt
from loadgen.workloads.lengths import describe_lengths

SWEEP_NAMES = ("output-variance",)
AXIS = "output-length CV"


SPREADS = ("fixed", "uniform", "exponential")


def variance_specs(mean: int, spreads: tuple[str, ...] = SPREADS) -> list[str]:
    """Length specs of one mean and growing spread: fixed, uniform on 1..2*mean-1, exponential
    (those of `spreads`; uniform needs a mean above 1)."""
    specs = {"fixed": f"fixed:{mean}", "exponential": f"exponential:{mean}"}
    if mean > 1:
        specs["uniform"] = f"uniform:1,{2 * mean - 1}"
    return [specs[s] for s in SPREADS if s in spreads and s in specs]


def variance_levels(
    load: LoadSpec,
    mean: int,
    build: Callable[[str], tuple[list[Prompt], dict[str, object]]],
    spreads: tuple[str, ...] = SPREADS,
) -> list[SweepLevel]:
    """One level per spec of `variance_specs(mean, spreads)` at `load`; `build(spec)` gives the prompts of an
    output-length spec and their description. A level sits on the axis at the CV of the output lengths
    its measured requests ask for (warm-up left out, as in the statistics)."""
    levels = []
    first = load.warmup_requests
    last = first + (load.num_requests or 0)
    for spec in variance_specs(mean, spreads):
        prompts, description = build(spec)
        measured = [p.output_tokens or 0 for p in prompts[first:last]]  # request i sends prompt i
        sent = describe_lengths(measured)
        levels.append(
            SweepLevel(
                replace(load, tag=f"output {spec}"),
                prompts,
                {**description, "measured_output_lengths": sent},
                axis=(AXIS, float(sent["cv"] or 0.0)),
            )
        )
    return levels
