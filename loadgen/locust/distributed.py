"""How servebench's data crosses between locust workers and the master.

- Every worker report (`report_to_master`, every few seconds) carries the worker's metric deltas and
  finished records under the key `servebench`; the master merges them in `worker_report`.
- When a worker's test stops it sends the rest at once in a `servebench_flush` message, so the
  master can close the test's results without waiting for the next periodic report.
- When the sweep shape moves to a new step, the master tells the workers in a `servebench_ramp`
  message, so requests sent while users are being spawned are labelled as that step's warm-up.
- Locust itself merges the TTFT/ITL/TPOT statistics entries, like any request entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from loadgen.locust.node import NodeState

REPORT_KEY = "servebench"
FLUSH_MESSAGE = "servebench_flush"
RAMP_MESSAGE = "servebench_ramp"
FLUSH_WAIT_S = 10.0

logger = logging.getLogger("servebench.locust")


def events_of(runner: MasterRunner | WorkerRunner) -> Any:
    """The runner's event hooks (untyped in locust, so typed `Any` here)."""
    return runner.environment.events


class FlushTracker:
    """Master: which workers have sent their final records since the test began to stop."""

    def __init__(self) -> None:
        self.flushed: set[str] = set()

    def reset(self) -> None:
        """A new test started."""
        self.flushed.clear()

    def wait(self, runner: MasterRunner, timeout_s: float = FLUSH_WAIT_S) -> bool:
        """Block (this greenlet) until every connected worker has flushed, or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if set(runner.clients.keys()) <= self.flushed:
                return True
            gevent.sleep(0.1)
        return False


def wire_worker(runner: WorkerRunner, node: NodeState) -> None:
    """Worker side: ship data in reports and at test stop, follow the master's ramp messages."""

    def on_ramp(environment: Any, msg: Any, **_: Any) -> None:
        node.ramping(int(msg.data["users"]))

    runner.register_message(RAMP_MESSAGE, on_ramp)

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data[REPORT_KEY] = node.drain_report()

    events_of(runner).report_to_master.add_listener(on_report)

    def on_test_stop(environment: Any, **_: Any) -> None:
        runner.send_message(FLUSH_MESSAGE, node.drain_report())
        logger.info(
            "servebench: worker %s finished %d requests in this test", runner.client_id, node.finished_count
        )

    events_of(runner).test_stop.add_listener(on_test_stop)


def wire_master(runner: MasterRunner, node: NodeState, tracker: FlushTracker) -> None:
    """Master side: merge worker reports and flushes into the node's state."""

    def on_flush(environment: Any, msg: Any, **_: Any) -> None:
        node.absorb_report(msg.data)
        tracker.flushed.add(msg.node_id)

    runner.register_message(FLUSH_MESSAGE, on_flush)

    def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
        report = data.get(REPORT_KEY)
        if report:
            node.absorb_report(report)

    events_of(runner).worker_report.add_listener(on_worker_report)


def announce_ramp(environment: Any, users: int, on_local: Callable[[int], None]) -> None:
    """A new step towards `users` begins: label this process's requests, and the workers'."""
    on_local(users)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.send_message(RAMP_MESSAGE, {"users": users})
