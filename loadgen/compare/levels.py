"""`SweepLevel`: one level of a comparison with the prompts it sends (the variance sweep's levels, the
demo's realistic level), and how its summary is marked so the report can tell such levels apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadgen.run_config import LoadSpec
from loadgen.workloads.base import Prompt


@dataclass(frozen=True)
class SweepLevel:
    """A load level, the prompts it sends and what they are."""

    load: LoadSpec
    prompts: Sequence[Prompt]
    workload: dict[str, Any] = field(default_factory=dict)
    """The level's workload as `describe_workload` gives it (name, settings, lengths)."""
    axis: tuple[str, float] | None = None
    """Where the level sits on the report's x-axis instead of its load, e.g. ("output-length CV", 0.58)."""
    extra: bool = False
    """A level beside the sweep (the demo's ShareGPT level): reported on its own, not on the sweep's axis."""

    def annotate(self, summary: dict[str, Any]) -> None:
        """Mark the level's summary with its workload, axis and role (read back by the report)."""
        if self.workload:
            summary["workload"] = self.workload
        if self.axis is not None:
            summary["axis"] = {"label": self.axis[0], "value": self.axis[1]}
        if self.extra:
            summary["extra_level"] = True

    def to_dict(self) -> dict[str, Any]:
        """As recorded in `run.json`."""
        return {
            "label": self.load.label,
            "workload": self.workload.get("name"),
            "prompts": len(self.prompts),
            "axis": None if self.axis is None else {"label": self.axis[0], "value": self.axis[1]},
            "extra": self.extra,
        }
