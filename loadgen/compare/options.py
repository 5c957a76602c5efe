"""Checks of the load-shape options of `loadgen compare`, before any server is started."""

from __future__ import annotations

from typing import Any, Literal

import click


def check_load_options(opts: dict[str, Any], mode: Literal["closed", "open"]) -> None:
    """Raise a one-line usage error for options that do not fit together.

    `--arrival`/`--burstiness` need `--rate` (or `--capacity-search`, whose probes are open loop);
    `--burstiness` needs gamma arrivals; `--repeats` is at
    least 1; the capacity options need `--capacity-search`, which needs an `--slo`.
    """
    repeats = opts.get("repeats")
    if repeats is not None and repeats < 1:
        raise click.BadParameter(f"needs at least 1 run per level, got {repeats}", param_hint="--repeats")
    open_loop = mode == "open" or bool(opts.get("capacity_search"))  # capacity probes are open loop
    if opts.get("arrival") and not open_loop:
        raise click.UsageError(
            "--arrival shapes open-loop load: give --rate levels (not --concurrency) or --capacity-search"
        )
    if opts.get("burstiness") is not None:
        if not open_loop:
            raise click.UsageError(
                "--burstiness shapes open-loop load: give --rate levels and --arrival gamma"
            )
        if opts.get("arrival") != "gamma":
            raise click.UsageError("--burstiness is the shape of gamma arrivals: add --arrival gamma")
    capacity = bool(opts.get("capacity_search"))
    for name in ("capacity_max_rate", "capacity_steps"):
        if opts.get(name) is not None and not capacity:
            raise click.UsageError(f"--{name.replace('_', '-')} bounds --capacity-search: add it")
    if capacity and not opts.get("slo"):
        raise click.UsageError(
            "--capacity-search finds the highest rate within SLOs: "
            "give at least one --slo (e.g. --slo ttft:1000)"
        )
