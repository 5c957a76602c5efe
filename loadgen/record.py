"""`RequestRecord`: everything measured about one request, one JSONL line each.

All times are `time.perf_counter_ns()` stamps (monotonic, shared by processes on one Linux host).
Latencies are derived from them here, in one place, so every report uses the same definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class RequestRecord:
    """The timing and outcome of one request."""

    request_id: str
    target: str
    index: int
    """Position in the request schedule; the same index is the same request on every target."""
    api: str
    """`completions` or `chat`."""
    stream: bool
    send_ns: int
    """When the request was handed to the socket (headers and body together)."""
    scheduled_ns: int | None = None
    """Open loop: when the schedule said to send. Latency counts from here when set."""
    level: str = ""
    """The sweep level this request belongs to, e.g. `concurrency=16` or `rate=4`."""
    warmup: bool = False
    first_byte_ns: int | None = None
    """First byte of the response (status line)."""
    content_ns: list[int] = field(default_factory=list)
    """Arrival of the first byte of every event that carried generated text."""
    end_ns: int | None = None
    http_status: int | None = None
    error_class: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    tokens_source: str | None = None
    """`usage` (server-reported), `tokenizer` (counted by us: a flagged fallback) or `events`."""
    expected_prompt_tokens: int | None = None
    max_tokens: int | None = None
    output_text: str | None = None
    """Kept only when the run asks for it (parity checks); with n > 1 the choices' texts in index order."""
    n: int = 1
    """Choices the request asked for (`n`, parallel sampling). `output_tokens` counts all of them."""
    content_choice: list[int] | None = None
    """n > 1: the choice index of each `content_ns` stamp (an event carrying text for two choices
    gives two stamps)."""
    choice_tokens: list[int] | None = None
    """n > 1: output tokens per choice, by the `--tokenizer` when given, else content events per
    choice of a stream (a lower bound if the server merged tokens into one event); None for a
    whole (non-streamed) body without a tokenizer."""

    @property
    def ok(self) -> bool:
        """True when the request finished without an error."""
        return self.error_class is None

    @property
    def start_ns(self) -> int:
        """Where latency counts from: the scheduled time in open loop, else the send time."""
        return self.scheduled_ns if self.scheduled_ns is not None else self.send_ns

    @property
    def queue_delay_ns(self) -> int:
        """Time the request waited inside the client between its scheduled and its actual send."""
        return 0 if self.scheduled_ns is None else max(0, self.send_ns - self.scheduled_ns)

    @property
    def ttft_ns(self) -> int | None:
        """Time to first token: start to the first event carrying generated text."""
        return self.content_ns[0] - self.start_ns if self.content_ns else None

    @property
    def e2e_ns(self) -> int | None:
        """End-to-end latency: start to the end of the response."""
        return None if self.end_ns is None else self.end_ns - self.start_ns

    @property
    def itls_ns(self) -> list[int]:
        """Inter-token latencies: gaps between successive content events of the same choice.

        With n > 1 the gaps are taken within each choice's own stream (not over the merged stream,
        whose gaps shrink by about n and would say nothing about how fast one sequence decodes)."""
        stamps = self.content_ns
        choices = self.content_choice
        if choices is None:
            return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        last: dict[int, int] = {}
        gaps: list[int] = []
        for stamp, choice in zip(stamps, choices, strict=False):
            previous = last.get(choice)
            if previous is not None:
                gaps.append(stamp - previous)
            last[choice] = stamp
        return gaps

    @property
    def tpot_ns(self) -> float | None:
        """Time per output token after the first: (E2E - TTFT) / (output tokens - 1); with n > 1 the
        tokens are those of the longest choice (the choices decode side by side)."""
        ttft, e2e, tokens = self.ttft_ns, self.e2e_ns, self.output_tokens
        if self.n > 1:
            tokens = max(self.choice_tokens) if self.choice_tokens else None
        if ttft is None or e2e is None or tokens is None or tokens < 2:
            return None
        return (e2e - ttft) / (tokens - 1)

    def to_json_line(self) -> bytes:
        """The record as one JSONL line, newline included."""
        return orjson.dumps(self, option=orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RequestRecord:
        """Rebuild a record from a parsed JSONL line (unknown keys are ignored)."""
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in raw.items() if key in known})

    def to_dict(self) -> dict[str, Any]:
        """The record's fields as a plain dict."""
        return asdict(self)


def records_window(records: Sequence[RequestRecord]) -> tuple[int, int] | None:
    """First send to last end of a level's requests (`perf_counter_ns`), or None when nothing was sent."""
    sends = [r.send_ns for r in records if r.send_ns]
    if not sends:
        return None
    start = min(sends)
    return start, max((r.end_ns for r in records if r.end_ns is not None), default=start)
