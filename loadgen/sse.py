"""A pure, incremental parser for `text/event-stream` bodies (WHATWG HTML, "server-sent events").

It does no I/O and knows nothing of OpenAI: feed it bytes as they arrive, with the time they arrived,
and it returns the events those bytes completed. Each event carries the arrival time of the chunk
that held the first byte of its first field line, so an event is timed when it began to arrive, not
when it was parsed. Both the async load generator and the (gevent) locust user use this one parser.

Rules followed (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
lines end in CRLF, LF or CR; a leading UTF-8 BOM is dropped; lines starting with `:` are comments;
`field: value` drops one leading space from the value; `data` lines are joined with LF; a blank line
dispatches the event unless its data buffer is empty; an event type defaults to `message`; `id`
values containing NUL are ignored; `retry` takes ASCII digits only; an unterminated event at the end
of the stream is discarded (see `has_partial_event`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True, frozen=True)
class SSEEvent:
    """One dispatched event."""

    data: str
    arrival_ns: int
    event: str = "message"
    id: str | None = None
    retry_ms: int | None = None


class SSEParser:
    """Incremental event-stream parser; one instance per response body."""

    __slots__ = (
        "_tail",
        "_tail_ns",
        "_skip_lf",
        "_at_start",
        "_data",
        "_event_type",
        "_last_id",
        "_retry",
        "_event_ns",
        "_in_event",
    )

    def __init__(self) -> None:
        self._tail = b""
        self._tail_ns = 0
        self._skip_lf = False
        self._at_start = True
        self._data: list[str] = []
        self._event_type = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._event_ns = 0
        self._in_event = False

    @property
    def has_partial_event(self) -> bool:
        """True when bytes of an event have arrived that no blank line has dispatched yet."""
        return bool(self._tail) or self._in_event

    def feed(self, chunk: bytes, arrival_ns: int) -> list[SSEEvent]:
        """Parse `chunk` (bytes that arrived at `arrival_ns`) and return the events it completed."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        if not self._tail:
            self._tail_ns = arrival_ns
        data = self._tail + chunk if self._tail else chunk
        if self._at_start:
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._tail = data
                return []
            self._at_start = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        if b"\r" in data:
            lines = _LINE_END.split(data)
            self._skip_lf = data.endswith(b"\r")
        else:
            lines = data.split(b"\n")
        self._tail = lines.pop()
        if not lines:
            return []
        events: list[SSEEvent] = []
        line_ns = self._tail_ns
        for line in lines:
            self._process_line(line, line_ns, events)
            line_ns = arrival_ns
        self._tail_ns = arrival_ns
        return events

    def _process_line(self, line: bytes, line_ns: int, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(
                    SSEEvent(
                        data="\n".join(self._data),
                        arrival_ns=self._event_ns,
                        event=self._event_type or "message",
                        id=self._last_id,
                        retry_ms=self._retry,
                    )
                )
            self._data = []
            self._event_type = ""
            self._in_event = False
            return
        if line[0] == 0x3A:  # ":" starts a comment
            return
        if not self._in_event:
            self._in_event = True
            self._event_ns = line_ns
        colon = line.find(b":")
        if colon < 0:
            field, value = line, b""
        else:
            field, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif field == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif field == b"retry":
            if value.isdigit():
                self._retry = int(value)
