"""A locust test's results in the load generator's run format, so `loadgen report` reads them.

One test (from its start to its stop) becomes one run directory written by `loadgen.results.RunWriter`:
`requests.jsonl` (one `RequestRecord` per line, appended as each request's record reaches the master
or the single process), `run.json`, and on `finalize` one `summary-NN-<target>-<level>.json` per load
level from `loadgen.stats.summarize`, with the same extra fields and measured window
(`loadgen.runner.measured_window_s`) as a `loadgen` level. Warm-up records (sent while users were
being spawned) stay in the JSONL and out of the summary, as in `loadgen` runs; requests cut short by
the test's stop are recorded as `cancelled`, as `loadgen` does when a run is stopped.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadgen.locust.settings import LocustSettings
from loadgen.record import RequestRecord
from loadgen.redact import redact_argv
from loadgen.results import REQUESTS_FILE, RunWriter, default_run_dir, iter_records


def unique_run_dir(root: Path) -> Path:
    """`root/<UTC timestamp>-locust`, with a numeric suffix if a run of the same second exists."""
    base = default_run_dir(root)
    candidate = base.with_name(base.name + "-locust")
    number = 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-locust-{number}")
        number += 1
    return candidate


def _load_of(level: str) -> dict[str, Any]:
    """The `load` field of a level's summary: locust users are a closed loop at their count."""
    _, _, users = level.partition("=")
    return {"mode": "closed", "concurrency": int(users) if users.isdigit() else None, "driver": "locust"}


def request_fields(settings: LocustSettings) -> dict[str, Any]:
    """The `request` field of a summary, as `loadgen` writes it."""
    options = settings.options
    return {
        "api": options.api,
        "stream": options.stream,
        "max_tokens": options.max_tokens,
        "n": options.n,
        "client": "locust",
    }


def run_meta(settings: LocustSettings, extra: Mapping[str, Any]) -> dict[str, Any]:
    """What `run.json` says about a locust run besides the writer's own fields."""
    target = settings.target
    return {
        "tool": "locust",
        "command": redact_argv(sys.argv),
        "targets": [{"name": target.name, "base_url": target.base_url, "model": target.model}],
        "request": {**request_fields(settings), "ignore_eos": settings.options.ignore_eos},
        "workload": asdict(settings.workload),
        "load": {"mode": "closed", "driver": "locust users, no wait time"},
        **extra,
    }


class RunOutput:
    """Writes one test's records as they arrive and its per-level summaries at the end."""

    def __init__(self, root: Path, meta: Mapping[str, Any], request: Mapping[str, Any]) -> None:
        self.directory = unique_run_dir(root)
        self._request = dict(request)
        self._writer = RunWriter(self.directory, meta)
        self.written = 0
        self.late = 0
        """Records that arrived after `finalize` (not written; the caller logs them)."""
        self.finalized = False

    def write(self, record: RequestRecord) -> None:
        """Append one finished request to `requests.jsonl` (counted in `late` once finalized)."""
        if self.finalized:
            self.late += 1
            return
        self._writer.sink.write(record)
        self.written += 1

    def finalize(self, *, interrupted: bool = False) -> list[Path]:
        """Write a summary per (target, level) from the records on disk; close the run."""
        if self.finalized:
            return []
        from loadgen.runner import measured_window_s  # numpy and friends: only when a test ends
        from loadgen.stats import summarize

        self.finalized = True
        groups: dict[tuple[str, str], list[RequestRecord]] = {}
        path = self.directory / REQUESTS_FILE
        for record in iter_records(path) if path.exists() else ():
            groups.setdefault((record.target, record.level), []).append(record)
        written: list[Path] = []
        for (target, level), records in groups.items():
            if all(r.warmup for r in records):
                continue
            summary = summarize(records, duration_s=measured_window_s(records))
            summary.update(
                target=target,
                level=level,
                label=f"{target} {level}",
                load=_load_of(level),
                request=self._request,
                interrupted=interrupted,
            )
            written.append(self._writer.write_summary(summary))
        self._writer.finish(interrupted=interrupted)
        return written
