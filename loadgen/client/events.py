"""A fast path for the common OpenAI stream event, provably the same as `openai_stream`'s reading.

Almost every event of a stream is one plain chunk: one choice, some text (or a chat delta), maybe a
finish reason, no usage and no error. `plain_chunk` reads exactly that shape straight from the
parsed JSON, without building a `StreamItem`; for anything else it returns None and the caller uses
`openai_stream.parse_stream_event`, so both give the same answer (tests/test_client_events.py
checks this on a corpus of shapes). `TextSlot` goes one step further for the events of one stream
that differ only in their text: it reads the text straight from the bytes (see `learn_slot` for why
that is the same reading).
"""

from __future__ import annotations

import re
from typing import Any

from orjson import JSONDecodeError, dumps, loads


def plain_chunk(payload: Any) -> tuple[str, str | None] | None:
    """`(text, finish_reason)` of a one-choice chunk without usage or error, else None."""
    if type(payload) is not dict or "error" in payload or payload.get("object") == "error":
        return None
    if payload.get("usage") is not None:
        return None
    choices = payload.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict:
        return None
    text = choice.get("text")
    if type(text) is not str:
        delta = choice.get("delta")
        if type(delta) is not dict or "reasoning_content" in delta or "reasoning" in delta:
            return None
        text = delta.get("content")
        if type(text) is not str:
            text = ""
    reason = choice.get("finish_reason")
    return text, reason if type(reason) is str else None


_UNSAFE = re.compile(rb'["\\\x00-\x1f]')
"""Bytes that may not stand unescaped inside a JSON string (quote, backslash, control characters)."""
_MARKER = "servebench-text-slot-7c1f"
_MARKER_LITERAL = b'"' + _MARKER.encode() + b'"'


class TextSlot:
    """A stream's recurring chunk with its text cut out: `head` + text + `tail`.

    Within one response a server sends the same chunk again and again with only the token's text
    changed (same id, created, model, index, null finish_reason). `learn_slot` finds where that text
    sits and proves it (see there); afterwards an event that is `head` + B + `tail`, where B holds no
    quote, backslash or control byte and is valid UTF-8, is the same JSON document with another
    string in the same place, so `plain_chunk` would read it as `(B decoded, None)`: `text` returns
    that without parsing JSON. Anything else returns None and the caller parses the event fully.
    `chunk_head`, `chunk_prefix(size)` and `chunk_tail` are the same event as it stands alone in an
    HTTP/1.1 chunk (size line, `data: `, ..., blank line, CRLF), for a transport that checks the
    bytes in place.
    """

    __slots__ = ("head", "tail", "chunk_head", "chunk_tail", "prefixes", "_start", "_cut", "_min")

    def __init__(self, head: bytes, tail: bytes) -> None:
        if b"\r" in head + tail or b"\n" in head + tail:
            raise ValueError("a slot's head and tail lie on one line")
        self.head = head
        self.tail = tail
        self.chunk_head = b"data: " + head
        self.chunk_tail = tail + b"\n\n\r\n"
        self.prefixes: dict[int, bytes] = {}
        """`chunk_prefix` results so far, by size."""
        self._start = len(head)
        self._cut = len(tail)
        self._min = len(head) + len(tail)

    def chunk_prefix(self, size: int) -> bytes:
        """The size line (lower-case hex, as servers write it) of a `size`-byte chunk + `chunk_head`."""
        prefix = self.prefixes.get(size)
        if prefix is None:
            prefix = self.prefixes[size] = b"%x\r\n" % size + self.chunk_head
        return prefix

    def text(self, raw: bytes) -> str | None:
        """The text of `raw` if it is this chunk with another text, else None."""
        if len(raw) < self._min or not raw.startswith(self.head) or not raw.endswith(self.tail):
            return None
        body = raw[self._start : len(raw) - self._cut]
        if _UNSAFE.search(body) is not None:
            return None
        try:
            return body.decode()
        except UnicodeDecodeError:
            return None


def learn_slot(raw: bytes, text: str) -> TextSlot | None:
    """The `TextSlot` of `raw`, an event whose `plain_chunk` reading is `(text, None)`, or None.

    Each place where `text`'s plain JSON string literal occurs in `raw` is tried: the literal is
    replaced with a marker string and the result parsed again; the place is taken only if that
    document is valid and `plain_chunk` reads exactly the marker as its text, with no finish reason.
    A string literal is one self-delimiting token, so swapping it for any other plain literal leaves
    every other token, hence the document's whole structure, unchanged: what `plain_chunk` reads
    from the marker document it reads from every document `TextSlot.text` accepts, with that text.
    """
    literal = dumps(text)
    if _UNSAFE.search(literal, 1, len(literal) - 1) is not None or b"\r" in raw or b"\n" in raw:
        return None  # escaped text, or an event of several lines: leave such streams to the parser
    pos = raw.find(literal)
    tries = 0
    while pos >= 0 and tries < 4:
        tries += 1
        head, tail = raw[: pos + 1], raw[pos + len(literal) - 1 :]
        try:
            probe = plain_chunk(loads(raw[:pos] + _MARKER_LITERAL + raw[pos + len(literal) :]))
        except JSONDecodeError:
            probe = None
        if probe == (_MARKER, None):
            return TextSlot(head, tail)
        pos = raw.find(literal, pos + 1)
    return None
