"""A fast path for the common OpenAI stream event, provably the same as `openai_stream`'s reading.

Almost every event of a stream is one plain chunk: one choice, some text (or a chat delta), maybe a
finish reason, no usage and no error. `plain_chunk` reads exactly that shape straight from the
parsed JSON, without building a `StreamItem`; for anything else it returns None and the caller uses
`openai_stream.parse_stream_event`, so both give the same answer (tests/test_client_events.py
checks this on a corpus of shapes).
"""

from __future__ import annotations

from typing import Any


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
