"""Turn a response (status, then body bytes with their arrival stamps) into a filled `RequestRecord`.

Every transport (`transport_http1`, `transport_httpx`, `loadgen.locust.transport`) hands over what
arrived through one interface: `on_status`, then body bytes with their arrival stamps (`on_body`,
or, for a transport that has not removed the chunked coding, `on_chunked` first), then exactly one of
`finish` or `fail`. The transports read `last_ns` and `has_content` for their time limits
(`deadline`) and never touch the record's stamps: this is the one module that decides which events
carry content and writes `content_ns`, so both clients and locust classify errors and time events
identically. It does no I/O.

The content rule, defined here only: an event is a content event, stamped in `content_ns` with the
arrival of its first byte (the first stamp is the time to first token), when it carries non-empty
generated text; a role-only chat chunk (`delta: {"role": "assistant", "content": ""}`), a
finish-only, usage or empty-text chunk carries none. Each reading path applies it inline (`if text:`)
rather than through a shared call, because a call per event is measurable on the hot path
(docs/benchmarks.md, "Capacity"). A streamed body goes through the shared SSE parser and
`openai_stream`, or through fast paths that read exactly as they do (`events`: `plain_chunk`, and
`TextSlot`, learned from a response's first content chunk). A non-streamed body is one "event": its
content time is the arrival of the first body byte.
"""

from __future__ import annotations

from orjson import JSONDecodeError, loads

from loadgen import errors
from loadgen.client.events import TextSlot, learn_slot, plain_chunk
from loadgen.client.tokens import TokenCounter
from loadgen.openai_stream import StreamItem, parse_response_body, parse_stream_event
from loadgen.record import RequestRecord
from loadgen.sse import SSEParser

_ERROR_BODY_LIMIT = 64 * 1024
_SLOT_LEARNING_TRIES = 3
"""Times one response may try to learn its chunks' `TextSlot` (a server whose chunks all differ
beyond the text then costs at most this many extra parses)."""


class ResponseRecorder:
    """Fills one record as the response arrives; call `finish` exactly once."""

    __slots__ = (
        "record",
        "_stream",
        "_parser",
        "_texts",
        "_done",
        "_finish_reason",
        "_usage",
        "_error",
        "_error_message",
        "_body",
        "_body_len",
        "_body_ns",
        "_ok_status",
        "_fast",
        "_fed",
        "_plain",
        "_content",
        "_slot",
        "_learn",
        "_counter",
        "_keep_text",
        "_want_text",
        "last_ns",
        "finished",
        "_n",
        "_choice_texts",
    )

    def __init__(self, record: RequestRecord, *, keep_text: bool, counter: TokenCounter | None) -> None:
        self.record = record
        self._stream = record.stream
        self._parser = SSEParser()
        self._texts: list[str] = []
        self._done = False
        self._finish_reason: str | None = None
        self._usage: tuple[int | None, int | None] | None = None
        self._error: str | None = None
        self._error_message: str | None = None
        self._body: list[bytes] = []
        self._body_len = 0
        self._body_ns = 0
        self._ok_status = True
        self._counter = counter
        self._keep_text = keep_text
        self._want_text = keep_text or counter is not None
        self.last_ns = record.send_ns
        """When the transport last sent or received a byte (the idle limit counts from it); the
        transport sets it for bytes that reach none of the `on_*` methods (a head, a size line)."""
        self.finished = False
        self._n = record.n
        self._choice_texts: dict[int, list[str]] = {}
        if self._n > 1:
            record.content_choice = []
        # The fast paths read one choice per event without its index: n > 1 takes the full parser.
        self._fast = self._stream and self._n == 1
        self._fed = False
        self._plain = self._fast
        """True while every body byte so far came in whole `data:` events: `on_chunked` may read."""
        self._content = record.content_ns
        self._slot: TextSlot | None = None
        self._learn = _SLOT_LEARNING_TRIES

    @property
    def has_content(self) -> bool:
        """True once a content event has arrived (the time-to-first-token limit no longer applies)."""
        return bool(self.record.content_ns)

    @property
    def saw_done(self) -> bool:
        """True once the stream's `[DONE]` arrived."""
        return self._done

    def on_send(self, send_ns: int) -> None:
        """The request is leaving now (`send_ns`, taken just before its bytes are written)."""
        self.record.send_ns = self.last_ns = send_ns

    def on_status(self, status: int, first_byte_ns: int) -> None:
        """The status line arrived (its first byte at `first_byte_ns`)."""
        self.record.http_status = status
        self.record.first_byte_ns = first_byte_ns
        self._ok_status = 200 <= status < 300
        if not self._ok_status:
            self._fast = self._plain = False
            self._error = errors.http_error_class(status)

    def on_body(self, data: bytes, arrival_ns: int) -> None:
        """Body bytes that arrived at `arrival_ns` (transfer coding already removed)."""
        self.last_ns = arrival_ns
        if self._fast:
            # Fast path: whole `data: ...` events and nothing else (what servers send), read exactly
            # as the SSE parser would read them; anything unusual goes to the parser below.
            if (
                data[:6] == b"data: "
                and data[-2:] == b"\n\n"
                and b"\r" not in data
                and not (self._fed and self._parser.has_partial_event)
            ):
                body = data[6:-2]
                if b"\n" not in body:
                    self._on_raw(body, arrival_ns)
                    return
                events = body.split(b"\n\ndata: ")
                if all(b"\n" not in raw for raw in events):
                    for raw in events:
                        self._on_raw(raw, arrival_ns)
                    return
            if b"\r" in data:
                self._fast = False  # CR line ends: leave every later byte to the parser
        elif not self._ok_status or not self._stream:
            if not self._body_ns:
                self._body_ns = arrival_ns
            if self._body_len < _ERROR_BODY_LIMIT or self._ok_status:
                self._body.append(data)
                self._body_len += len(data)
            return
        self._fed = True
        self._plain = False
        for event in self._parser.feed(data, arrival_ns):
            if self._done or self._error is not None:
                continue
            self._on_item(parse_stream_event(event.data), event.arrival_ns)

    def on_chunked(self, data: bytes, arrival_ns: int) -> int:
        """Read the leading whole HTTP/1.1 chunks of `data` that each hold exactly one `data:` event.

        For a transport that removes the chunked coding itself (`transport_http1`): `data` starts
        at a chunk's size line. A chunk qualifies when its size line is a bare hex number, its data
        is `data: ` + one line + a blank line with no CR anywhere, and CRLF follows it. An event
        that fits the stream's `TextSlot` is read in place (its text straight from the bytes, no
        copy of the chunk); any other is read as `on_body` would read it. Returns where the first
        chunk that does not qualify (or is incomplete) begins, 0 once the body took another shape:
        the transport de-chunks the rest and hands it to `on_body`.
        """
        if not self._plain:
            return 0
        self.last_ns = arrival_ns
        pos, size = 0, len(data)
        find, startswith = data.find, data.startswith
        while True:
            slot = self._slot
            if slot is not None and not self._done and self._error is None:
                # Size line + `data: ` + head, a body, then tail + blank line + CRLF, where the body
                # is all before the first quote and holds no backslash or control character: the
                # slot's event with another text (see TextSlot). The size line must be the one the
                # chunk's length gives.
                skip = len(slot.chunk_head) + 2
                tail = slot.chunk_tail
                cut = len(tail)
                prefix_of = slot.prefixes.get
                stamp = self._content.append
                texts = self._texts if self._want_text else None
                while True:
                    eol = find(b"\r\n", pos)
                    if eol <= pos:
                        return pos
                    body = eol + skip
                    quote = find(b'"', body)
                    if quote < body or not startswith(tail, quote):
                        break
                    length = quote + cut - 4 - eol
                    if not startswith(prefix_of(length) or slot.chunk_prefix(length), pos):
                        break
                    try:
                        text = data[body:quote].decode()
                    except UnicodeDecodeError:
                        break
                    if not text.isprintable() or "\\" in text:
                        break
                    if text:  # the content rule (module docstring)
                        stamp(arrival_ns)
                        if texts is not None:
                            texts.append(text)
                    pos = quote + cut
                    if pos == size:
                        return pos
            eol = find(b"\r\n", pos)
            if eol <= pos:
                return pos
            start = eol + 2
            try:
                end = start + int(data[pos:eol], 16)
            except ValueError:
                return pos
            if (
                end + 2 > size
                or end - start < 8
                or find(b"\n", start) != end - 2
                or data[end - 1] != 10  # the event's blank line: "\n\n" ends the chunk's data
                or find(b"\r", start, end + 1) != end
                or data[end + 1] != 10
                or not startswith(b"data: ", start)
            ):
                return pos
            self._on_raw(data[start + 6 : end - 2], arrival_ns)  # never clears `_plain`
            pos = end + 2
            if pos == size:
                return pos

    def _on_raw(self, raw: bytes, arrival_ns: int) -> None:
        """One event's data (bytes) from a fast path: the stream's `TextSlot`, else parsed JSON."""
        if self._done or self._error is not None:
            return
        if raw == b"[DONE]":
            self._done = True
            return
        slot = self._slot
        text = slot.text(raw) if slot is not None else None
        if text is None:
            try:
                fast = plain_chunk(loads(raw))
            except JSONDecodeError:
                fast = None
            if fast is None:
                self._on_item(parse_stream_event(raw.decode("utf-8", "replace")), arrival_ns)
                return
            text, reason = fast
            if reason is not None:
                self._finish_reason = reason
            elif text and self._learn:  # the slot (if any) did not fit this event
                self._learn -= 1
                self._slot = learn_slot(raw, text) or slot
        if text:  # the content rule (module docstring)
            self._content.append(arrival_ns)
            self._texts.append(text)

    def _on_item(self, item: StreamItem, arrival_ns: int) -> None:
        if item.error_class is not None:
            self._error = item.error_class
            self._error_message = item.error_message
        elif item.done:
            self._done = True
        else:
            self._take(item, arrival_ns)

    def _take(self, item: StreamItem, arrival_ns: int) -> None:
        if self._n > 1 and item.choices is not None:
            self._take_choices(item.choices, arrival_ns)
        elif item.text:  # the content rule (module docstring)
            self._content.append(arrival_ns)
            self._texts.append(item.text)
        if item.finish_reason is not None:
            self._finish_reason = item.finish_reason
        if item.usage is not None:
            self._usage = (item.usage.prompt_tokens, item.usage.completion_tokens)

    def _take_choices(self, choices: list[tuple[int, str, str | None]], arrival_ns: int) -> None:
        """n > 1: one stamp per choice that got text, tagged with its index; texts kept per choice."""
        record = self.record
        tags = record.content_choice
        assert tags is not None
        for index, text, reason in choices:
            if text:  # the content rule (module docstring)
                self._content.append(arrival_ns)
                tags.append(index)
                self._choice_texts.setdefault(index, []).append(text)
            if reason is not None:
                self._finish_reason = reason

    def fail(self, error_class: str, message: str, end_ns: int) -> RequestRecord:
        """End the request with a transport-level error (connect, timeout, cut, cancelled)."""
        if self._error is None or error_class == errors.CANCELLED:
            self._error, self._error_message = error_class, message
        elif self._error_message is None:
            self._error_message = message
        return self._close(end_ns)

    def finish(self, end_ns: int) -> RequestRecord:
        """The body ended cleanly at `end_ns`; classify the outcome."""
        if not self._ok_status:
            self._error_message = self._error_body_message()
        elif not self._stream:
            self._finish_whole_body()
        elif self._error is None:
            if self._parser.has_partial_event and not self._done:
                self._error, self._error_message = errors.STREAM_CUT, "the body ended inside an event"
            elif not self._done and self._finish_reason is None:
                self._error = errors.STREAM_CUT
                self._error_message = "the stream ended without [DONE] or a finish_reason"
        if self._error is None and not self.record.content_ns:
            self._error, self._error_message = errors.NO_TOKENS, "the response carried no generated text"
        return self._close(end_ns)

    def _finish_whole_body(self) -> None:
        if not self._body_ns:
            self._error, self._error_message = errors.NO_TOKENS, "empty response body"
            return
        item = parse_response_body(b"".join(self._body))
        if item.error_class is not None:
            self._error, self._error_message = item.error_class, item.error_message
            return
        self._take(item, self._body_ns)

    def _error_body_message(self) -> str:
        body = b"".join(self._body)[:_ERROR_BODY_LIMIT]
        item = parse_response_body(body) if body else None
        if item is not None and item.error_message and item.error_class == errors.INBAND_ERROR:
            return item.error_message
        text = body.decode("utf-8", "replace").strip()
        return f"HTTP {self.record.http_status}: {text[:300]}" if text else f"HTTP {self.record.http_status}"

    def _close_choices(self) -> None:
        """n > 1: the texts in index order (for the text fields) and per-choice token counts."""
        record = self.record
        texts = {index: "".join(parts) for index, parts in sorted(self._choice_texts.items())}
        self._texts = list(texts.values())
        counter = self._counter
        if counter is not None:
            record.choice_tokens = [counter.count(texts.get(i, "")) for i in range(record.n)]
        elif self._stream:
            tags = record.content_choice or []
            record.choice_tokens = [tags.count(i) for i in range(record.n)]

    def _close(self, end_ns: int) -> RequestRecord:
        record = self.record
        self.finished = True
        record.end_ns = end_ns
        record.error_class = self._error
        record.error_message = self._error_message
        record.finish_reason = self._finish_reason
        if self._n > 1:
            self._close_choices()
        text = "".join(self._texts) if self._want_text else ""
        if self._keep_text:
            record.output_text = text
        if self._usage is not None:
            record.prompt_tokens = self._usage[0]
            record.output_tokens = self._usage[1]
        if record.output_tokens is not None:
            record.tokens_source = "usage"
        elif self._counter is not None and record.choice_tokens is not None and text:
            record.output_tokens = sum(record.choice_tokens)
            record.tokens_source = "tokenizer"
        elif self._counter is not None and text:
            record.output_tokens = self._counter.count(text)
            record.tokens_source = "tokenizer"
        elif record.content_ns:
            record.output_tokens = len(record.content_ns)
            record.tokens_source = "events"
        if record.prompt_tokens is None and record.expected_prompt_tokens is not None:
            record.prompt_tokens = record.expected_prompt_tokens
        return record
