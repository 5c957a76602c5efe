"""The true server-side timing of every request, and where it is kept.

Stamps are `time.perf_counter_ns()` (CLOCK_MONOTONIC, shared by every process on the host), so a
client on the same machine can subtract its own stamps from these directly:

- `received_ns`: the whole request (headers and body) had arrived;
- `pipeline_ns`: time an HTTP-pipelined request waited for the requests before it on its
  connection (0 otherwise);
- `queue_ns`: time spent waiting for a `--max-concurrency` slot;
- `first_token_ns` / `token_ns`: when each content event was handed to the transport (for a
  non-streamed request: when each token was due; nothing is sent until the end);
- `end_ns`: the last bytes of the response were handed to the transport (streamed: in the same
  write as the last token), or it was cut, or the connection was lost (disconnected).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

OK = "ok"
FAULT = "fault"
DISCONNECTED = "disconnected"
ERROR = "error"


@dataclass(slots=True)
class TruthRecord:
    """What really happened to one request."""

    request_id: str
    received_ns: int
    api: str
    stream: bool = False
    status: str = OK
    http_status: int = 200
    fault: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    queue_ns: int = 0
    pipeline_ns: int = 0
    first_token_ns: int | None = None
    end_ns: int = 0
    token_ns: array[int] = field(default_factory=lambda: array("q"))

    def as_json(self, tokens: bool = True) -> dict[str, Any]:
        """The record as JSON-ready values (`tokens=False` leaves out `token_ns`)."""
        out = {
            "request_id": self.request_id,
            "api": self.api,
            "stream": self.stream,
            "status": self.status,
            "http_status": self.http_status,
            "fault": self.fault,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "received_ns": self.received_ns,
            "queue_ns": self.queue_ns,
            "pipeline_ns": self.pipeline_ns,
            "first_token_ns": self.first_token_ns,
            "end_ns": self.end_ns,
        }
        if tokens:
            out["token_ns"] = self.token_ns.tolist()
        return out


class TruthStore:
    """Finished records: the latest `keep` in memory, and every one appended to a JSONL file."""

    def __init__(self, keep: int, path: Path | None = None) -> None:
        self._records: deque[TruthRecord] = deque(maxlen=keep)
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab")

    def add(self, record: TruthRecord) -> None:
        """Keep a finished record (and append it to the truth file, flushed)."""
        self._records.append(record)
        if self._file is not None:
            self._file.write(orjson.dumps(record.as_json()) + b"\n")
            self._file.flush()

    def snapshot(self, request_id: str | None = None, tokens: bool = True) -> bytes:
        """The kept records (all, or those of `request_id`) as one JSON list."""
        records: Iterable[TruthRecord] = self._records
        if request_id is not None:
            records = [record for record in self._records if record.request_id == request_id]
        return orjson.dumps([record.as_json(tokens) for record in records])

    def clear(self) -> int:
        """Forget the kept records (the file keeps its lines); return how many there were."""
        count = len(self._records)
        self._records.clear()
        return count

    def close(self) -> None:
        """Close the truth file."""
        if self._file is not None:
            self._file.close()
            self._file = None
