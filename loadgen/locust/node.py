"""What one locust process (single, master or worker) keeps for servebench between events.

Each process has one `NodeState`, found from its locust `Environment` with `node_of`. It holds the
checked settings and prompts of the current test, the load level that new requests are labelled
with, the `MetricsState` behind `/metrics`, and where finished records go: a worker queues them
(`outbox`) for its next report to the master; a master or single process appends them to the
test's `RunOutput`.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from loadgen.errors import ConfigError
from loadgen.locust.metrics_state import MetricsState
from loadgen.locust.run_output import RunOutput
from loadgen.locust.settings import LocustSettings
from loadgen.record import RequestRecord
from loadgen.workloads import build_prompts
from loadgen.workloads.base import Prompt
from loadgen.workloads.spec import WorkloadSpec

Role = Literal["local", "master", "worker"]

logger = logging.getLogger("servebench.locust")


def level_label(users: int) -> str:
    """The level name `loadgen` gives a closed loop of `users` requests in flight."""
    return f"concurrency={users}"


@dataclass
class NodeState:
    """servebench's state in one locust process."""

    role: Role
    settings: LocustSettings | None = None
    prompts: list[Prompt] = field(default_factory=list)
    metrics: MetricsState = field(default_factory=MetricsState)
    outbox: list[RequestRecord] = field(default_factory=list)
    output: RunOutput | None = None
    level: str = ""
    warmup: bool = True
    """True while users are being spawned: such requests are kept but left out of summaries."""
    counter: itertools.count[int] = field(default_factory=itertools.count)
    finished_count: int = 0
    """Requests of this process that ended in the current test (cancelled ones included)."""
    _prompt_cache: dict[WorkloadSpec, list[Prompt]] = field(default_factory=dict)

    def prompts_for(self, spec: WorkloadSpec) -> list[Prompt]:
        """Build (once per spec) the workload's prompts; `ConfigError` with a one-line reason."""
        prompts = self._prompt_cache.get(spec)
        if prompts is None:
            try:
                prompts = build_prompts(spec)
            except (ValueError, OSError) as exc:
                raise ConfigError(f"cannot build the {spec.kind} workload: {exc}") from None
            if not prompts:
                raise ConfigError(f"the {spec.kind} workload produced no prompts")
            self._prompt_cache[spec] = prompts
        return prompts

    def ramping(self, users: int) -> None:
        """Users are being spawned towards `users`: label new requests with that level, as warm-up."""
        self.level, self.warmup = level_label(users), True

    def spawned(self, users: int) -> None:
        """All `users` are running: new requests are measured at that level."""
        self.level, self.warmup = level_label(users), False

    def next_index(self) -> int:
        """The next request's position in this process's schedule (selects its prompt)."""
        return next(self.counter)

    def finished(self, record: RequestRecord) -> None:
        """A request of this process ended (cancelled ones included): count it and pass it on."""
        self.metrics.observe(record)
        self.finished_count += 1
        if self.role == "worker":
            self.outbox.append(record)
        elif self.output is not None:
            self.output.write(record)

    def drain_report(self) -> dict[str, Any]:
        """A worker's news for the master since its last report: metrics deltas and records."""
        records = [record.to_dict() for record in self.outbox]
        self.outbox = []
        return {"metrics": self.metrics.drain(), "records": records}

    def absorb_report(self, data: dict[str, Any]) -> None:
        """Master: merge one worker report (see `drain_report`)."""
        self.metrics.merge(data.get("metrics", {}))
        output = self.output
        for raw in data.get("records", []):
            if output is not None:
                output.write(RequestRecord.from_dict(raw))


_NODES: weakref.WeakKeyDictionary[Any, NodeState] = weakref.WeakKeyDictionary()


def attach(environment: Any, node: NodeState) -> None:
    """Make `node` the state of `environment`'s process."""
    _NODES[environment] = node


def node_of(environment: Any) -> NodeState:
    """The `NodeState` attached to `environment` (by the plugin's init listener)."""
    try:
        return _NODES[environment]
    except KeyError:
        raise RuntimeError(
            "servebench's locust plugin is not installed in this process: run a locustfile from "
            "loadgen/locust/ (or call loadgen.locust.plugin.install() in yours)"
        ) from None
