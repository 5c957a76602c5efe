"""Wires servebench into locust's events: arguments, settings per test, `/metrics`, results.

`install()` (called by the locustfiles in this package, or by your own) adds listeners to
`locust.events`:

- `init_command_line_parser`: servebench's arguments (`settings.add_arguments`), shown in the web UI;
- `init`: one `NodeState` per process, the master's (or single process's) `/metrics` route, the
  worker/master data paths, and a check of the command line that ends a bad one with one line;
- `test_start`: settings and prompts from the (possibly web-UI-edited) options, a new results run;
- `spawning_complete` (bound in `init`): requests from now on are measured at `concurrency=<users>`;
- `test_stop` / `quitting`: the results' per-level summaries.
"""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Any

try:
    import gevent
    import locust
    from locust.runners import MasterRunner, WorkerRunner
except ImportError as exc:  # pragma: no cover - depends on the install
    message = f"the locust integration needs locust ({exc}): pip install 'servebench[locust]'"
    raise ImportError(message) from None

from loadgen.errors import ConfigError
from loadgen.locust.distributed import FlushTracker, wire_master, wire_worker
from loadgen.locust.node import NodeState, Role, attach, node_of
from loadgen.locust.prometheus_route import LocustCollector, add_metrics_route
from loadgen.locust.run_output import RunOutput, request_fields, run_meta
from loadgen.locust.settings import (
    add_arguments,
    request_options_from,
    settings_from,
    target_from,
    workload_from,
)

logger = logging.getLogger("servebench.locust")
_installed = False
_trackers: dict[int, FlushTracker] = {}


def install() -> None:
    """Add servebench's listeners to `locust.events` (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    events: Any = locust.events  # locust's EventHook API is untyped
    events.init_command_line_parser.add_listener(lambda parser, **_: add_arguments(parser))
    events.init.add_listener(on_init)
    events.test_start.add_listener(on_test_start)
    events.test_stop.add_listener(on_test_stop)
    events.quitting.add_listener(on_quitting)


def _role(runner: Any) -> Role:
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return "worker"
    return "local"


def exit_with_error(message: str) -> None:
    """End the process with locust's one-line error format (no traceback)."""
    sys.stderr.write(f"locust: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def check_command_line(environment: Any, node: NodeState) -> None:
    """Reject unusable servebench arguments before any user starts (one line, exit status 2).

    Without `--host`, the host is checked when the test starts (the web UI has a field for it),
    except in headless mode, which cannot ask.
    """
    options = environment.parsed_options
    if options is None:
        return
    try:
        request_options = request_options_from(options)
        spec = workload_from(options, request_options.api)
        if environment.host or getattr(options, "headless", False):
            target_from(options, environment.host)
        node.prompts_for(spec)
    except ConfigError as exc:
        exit_with_error(str(exc))


def on_init(environment: Any, **_: Any) -> None:
    """Set up this process's servebench state, data paths and `/metrics`."""
    runner = environment.runner
    node = NodeState(role=_role(runner))
    attach(environment, node)
    # spawning_complete carries no environment: bind this process's node (total users, all workers)
    environment.events.spawning_complete.add_listener(lambda user_count, **_: node.spawned(user_count))
    if isinstance(runner, WorkerRunner):
        wire_worker(runner, node)
    elif isinstance(runner, MasterRunner):
        tracker = _trackers[id(environment)] = FlushTracker()
        wire_master(runner, node, tracker)
    web_ui = environment.web_ui
    if web_ui is not None:
        collector = LocustCollector(
            node.metrics,
            users=lambda: int(runner.user_count),
            target=lambda: node.settings.target.name if node.settings is not None else None,
        )
        add_metrics_route(web_ui.app, collector)
    if node.role != "worker":
        check_command_line(environment, node)


def on_test_start(environment: Any, **_: Any) -> None:
    """Take this test's settings (the web UI may have changed them) and open its results."""
    node = node_of(environment)
    node.counter = itertools.count()
    node.finished_count = 0
    node.level, node.warmup = "", True
    try:
        settings = settings_from(environment.parsed_options, environment.host)
        prompts = node.prompts_for(settings.workload)
    except ConfigError as exc:
        node.settings, node.prompts = None, []
        logger.error("servebench: %s", exc)
        if node.role != "worker":
            gevent.spawn_later(0, environment.runner.stop)
        return
    node.settings, node.prompts = settings, prompts
    tracker = _trackers.get(id(environment))
    if tracker is not None:
        tracker.reset()
    if node.output is not None and not node.output.finalized:
        _finalize(node.output)
    node.output = None
    if node.role != "worker" and settings.results_dir is not None:
        node.output = RunOutput(
            settings.results_dir, run_meta(settings, {"locust_role": node.role}), request_fields(settings)
        )
        logger.info("servebench: writing results to %s", node.output.directory)


def _finalize(output: RunOutput) -> None:
    paths = output.finalize()
    logger.info(
        "servebench: %d requests, %d level summaries in %s", output.written, len(paths), output.directory
    )
    if output.late:
        logger.warning("servebench: %d records arrived after the results were closed", output.late)


def on_test_stop(environment: Any, **_: Any) -> None:
    """Close the test's results (on the master once every worker has sent its last records)."""
    node = node_of(environment)
    output = node.output
    if node.role == "worker" or output is None:
        return
    runner = environment.runner
    tracker = _trackers.get(id(environment))
    if isinstance(runner, MasterRunner) and tracker is not None:

        def finalize_when_flushed() -> None:
            tracker.wait(runner)
            _finalize(output)

        gevent.spawn(finalize_when_flushed)
    else:
        _finalize(output)


def on_quitting(environment: Any, **_: Any) -> None:
    """Close results still open when locust exits (a headless master's test ends here)."""
    node = node_of(environment)
    if node.output is not None and not node.output.finalized:
        _finalize(node.output)
