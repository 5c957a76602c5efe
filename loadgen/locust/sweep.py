"""locustfile: the streaming users plus `StepSweepShape`, an unattended concurrency sweep.

    locust -f loadgen/locust/sweep.py --headless --host http://127.0.0.1:8000 \\
        --sweep-users 1,2,4,8,16,32,64,128,256 --sweep-hold 60 --results-dir results/locust

Each user count is held for `--sweep-hold` seconds; with `--results-dir` every step gets its own
summary (`concurrency=N`), as a `loadgen` sweep does. See docs/locust.md.
"""

from typing import Any

import locust

from loadgen.errors import ConfigError
from loadgen.locust.plugin import exit_with_error, install
from loadgen.locust.shape import StepSweepShape
from loadgen.locust.sweep_plan import add_sweep_arguments, plan_from
from loadgen.locust.user import OpenAIStreamUser


def _sweep_arguments(parser: Any, **_: Any) -> None:
    add_sweep_arguments(parser)


def _check_sweep(environment: Any, **_: Any) -> None:
    if environment.parsed_options is not None:
        try:
            plan_from(environment.parsed_options)
        except ConfigError as exc:
            exit_with_error(str(exc))


install()
_events: Any = locust.events  # locust's EventHook API is untyped
_events.init_command_line_parser.add_listener(_sweep_arguments)
_events.init.add_listener(_check_sweep)

__all__ = ["OpenAIStreamUser", "StepSweepShape"]
