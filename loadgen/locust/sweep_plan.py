"""The sweep's plan: which user count is due when, from `--sweep-users` and `--sweep-hold`.

Pure functions (no locust import), used by `StepSweepShape` and checked at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from loadgen.errors import ConfigError

DEFAULT_STEPS = "1,2,4,8,16,32,64,128,256"
DEFAULT_HOLD_S = "60"


def add_sweep_arguments(parser: Any) -> None:
    """The sweep's arguments (`@events.init_command_line_parser`), shown in the web UI."""
    parser.add_argument(
        "--sweep-users",
        default=os.environ.get("SERVEBENCH_SWEEP_USERS", DEFAULT_STEPS),
        help="Comma-separated user counts, one sweep step each (env SERVEBENCH_SWEEP_USERS).",
    )
    parser.add_argument(
        "--sweep-hold",
        default=os.environ.get("SERVEBENCH_SWEEP_HOLD_S", DEFAULT_HOLD_S),
        help="Seconds each step is held, spawning included (env SERVEBENCH_SWEEP_HOLD_S).",
    )


def parse_steps(text: str) -> tuple[int, ...]:
    """`"1,2,4"` -> (1, 2, 4); `ConfigError` for anything but positive integers."""
    steps: list[int] = []
    for raw in str(text).split(","):
        item = raw.strip()
        if not item:
            continue
        if not item.isdigit() or int(item) < 1:
            raise ConfigError(f"--sweep-users takes positive integers separated by commas, got {item!r}")
        steps.append(int(item))
    if not steps:
        raise ConfigError("--sweep-users needs at least one user count")
    return tuple(steps)


def parse_hold(text: str) -> float:
    """Seconds per step; `ConfigError` unless a number above 0."""
    try:
        hold = float(str(text).strip())
    except ValueError:
        raise ConfigError(f"--sweep-hold must be a number of seconds, got {text!r}") from None
    if not hold > 0:
        raise ConfigError(f"--sweep-hold must be above 0 s, got {text}")
    return hold


def plan_from(options: Any) -> tuple[tuple[int, ...], float]:
    """(steps, hold seconds) from parsed options; `ConfigError` when unusable."""
    steps = parse_steps(getattr(options, "sweep_users", DEFAULT_STEPS))
    return steps, parse_hold(getattr(options, "sweep_hold", DEFAULT_HOLD_S))


def step_at(run_time_s: float, steps: Sequence[int], hold_s: float) -> int | None:
    """Which step index is due `run_time_s` into the sweep (None once the sweep is over)."""
    index = int(run_time_s // hold_s)
    return index if index < len(steps) else None


def spawn_rate(steps: Sequence[int], index: int) -> float:
    """Users per second for step `index`: its whole change in about one second."""
    previous = steps[index - 1] if index else 0
    return float(max(1, abs(steps[index] - previous)))
