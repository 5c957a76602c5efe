"""`StepSweepShape`: an unattended concurrency sweep, one user count after another.

The steps and the time each is held come from `--sweep-users` (e.g. `1,2,4,8,16,32,64,128,256`,
env `SERVEBENCH_SWEEP_USERS`) and `--sweep-hold` (seconds, env `SERVEBENCH_SWEEP_HOLD_S`); both are
web UI fields too (`sweep_plan`). Each step spawns its users in about a second, and requests sent
while they are being spawned are flagged warm-up (on the workers too), so a step's summary covers
its steady state. The test stops after the last step's hold.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadgen.errors import ConfigError
from loadgen.locust.distributed import announce_ramp
from loadgen.locust.node import logger, node_of
from loadgen.locust.sweep_plan import plan_from, spawn_rate, step_at


class StepSweepShape(LoadTestShape):
    """Holds each of `--sweep-users` for `--sweep-hold` seconds, then stops the test."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # locust's shape API is untyped
        self._announced: int | None = None
        """The step last announced. Not cleared by `reset_time`, which locust calls more than once per
        start; a new test begins as warm-up anyway (`test_start`)."""

    def tick(self) -> tuple[int, float] | None:
        """(users, spawn rate) for now, or None when the sweep is over."""
        assert self.runner is not None
        environment = self.runner.environment
        try:
            steps, hold = plan_from(environment.parsed_options)
        except ConfigError as exc:  # only a web UI edit gets here: the command line is checked at start
            logger.error("servebench: %s; the sweep stops", exc)
            return None
        run_time: float = self.get_run_time()  # type: ignore[no-untyped-call]
        index = step_at(run_time, steps, hold)
        if index is None:
            return None
        if index != self._announced:
            self._announced = index
            announce_ramp(environment, steps[index], node_of(environment).ramping)
        return steps[index], spawn_rate(steps, index)
