"""The sweep's plan: which user count is due when, from `--sweep-users` and `--sweep-hold`.

Pure functions (no locust import), used by `StepSweepShape` and checked at start-up; the arguments'
defaults, help and checks are `loadgen.settings.table`'s `SWEEP_USERS` and `SWEEP_HOLD`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from loadgen.settings import table


def add_sweep_arguments(parser: Any) -> None:
    """The sweep's arguments (`@events.init_command_line_parser`), shown in the web UI."""
    users, hold = table.SWEEP_USERS, table.SWEEP_HOLD
    users.but(default=os.environ.get("SERVEBENCH_SWEEP_USERS", users.default)).add_to(parser)
    hold.but(default=os.environ.get("SERVEBENCH_SWEEP_HOLD_S", hold.default)).add_to(parser)


def parse_steps(text: str) -> tuple[int, ...]:
    """`"1,2,4"` -> (1, 2, 4); `ConfigError` for anything but integers above 0 (an empty field: the
    default steps)."""
    steps: tuple[int, ...] = table.SWEEP_USERS.convert(text)
    return steps


def parse_hold(text: str) -> float:
    """Seconds per step; `ConfigError` unless a number above 0 (an empty field: the default)."""
    return float(table.SWEEP_HOLD.convert(text))


def plan_from(options: Any) -> tuple[tuple[int, ...], float]:
    """(steps, hold seconds) from parsed options; `ConfigError` when unusable."""
    return parse_steps(getattr(options, "sweep_users", "")), parse_hold(getattr(options, "sweep_hold", ""))


def step_at(run_time_s: float, steps: Sequence[int], hold_s: float) -> int | None:
    """Which step index is due `run_time_s` into the sweep (None once the sweep is over)."""
    index = int(run_time_s // hold_s)
    return index if index < len(steps) else None


def spawn_rate(steps: Sequence[int], index: int) -> float:
    """Users per second for step `index`: its whole change in about one second."""
    previous = steps[index - 1] if index else 0
    return float(max(1, abs(steps[index] - previous)))
