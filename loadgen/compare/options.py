"""Checks of the load-shape options of `loadgen compare`, before any server is started."""

from __future__ import annotations

from typing import Literal

import click

from loadgen.compare.plan import ComparePlan
from loadgen.settings.compare import CompareSettings


def check_load_options(settings: CompareSettings, mode: Literal["closed", "open"]) -> None:
    """Raise a one-line usage error for options that do not fit together.

    `--arrival`/`--burstiness` need `--rate` (or `--capacity-search`, whose probes are open loop);
    `--burstiness` needs gamma arrivals; `--repeats` is at
    least 1; the capacity options need `--capacity-search`, which needs an `--slo`.
    """
    if settings.repeats < 1:
        raise click.BadParameter(
            f"needs at least 1 run per level, got {settings.repeats}", param_hint="--repeats"
        )
    open_loop = mode == "open" or settings.capacity_search  # capacity probes are open loop
    if settings.arrival and not open_loop:
        raise click.UsageError(
            "--arrival shapes open-loop load: give --rate levels (not --concurrency) or --capacity-search"
        )
    if settings.burstiness is not None:
        if not open_loop:
            raise click.UsageError(
                "--burstiness shapes open-loop load: give --rate levels and --arrival gamma"
            )
        if settings.arrival != "gamma":
            raise click.UsageError("--burstiness is the shape of gamma arrivals: add --arrival gamma")
    bounds = {
        "--capacity-max-rate": settings.capacity_max_rate,
        "--capacity-min-rate": settings.capacity_min_rate,
        "--capacity-steps": settings.capacity_steps,
    }
    for flag, value in bounds.items():
        if value is not None and not settings.capacity_search:
            raise click.UsageError(f"{flag} bounds --capacity-search: add it")
    top = settings.capacity_max_rate or ComparePlan.capacity_max_rate
    if settings.capacity_min_rate is not None and settings.capacity_min_rate > top:
        raise click.UsageError(
            f"--capacity-min-rate {settings.capacity_min_rate:g} is above the highest rate tried ({top:g})"
        )
    if settings.capacity_search and not settings.slo:
        raise click.UsageError(
            "--capacity-search finds the highest rate within SLOs: "
            "give at least one --slo (e.g. --slo ttft:1000)"
        )
