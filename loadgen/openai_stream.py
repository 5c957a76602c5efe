"""What one event (or one whole body) of an OpenAI-compatible completion response means.

Shared by every client in the project. It works for `/v1/completions` (`choices[].text`) and
`/v1/chat/completions` (`choices[].delta.content`, or `message.content` when not streaming) alike,
telling them apart by the payload. A chat stream's role-only first chunk
(`delta: {"role": "assistant", "content": ""}`) carries no generated text and so is not content:
timing TTFT from it would make TTFT too low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE_SENTINEL = "[DONE]"


@dataclass(slots=True, frozen=True)
class Usage:
    """Token counts as the server reported them."""

    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(slots=True)
class StreamItem:
    """The meaning of one stream event (or of a whole non-streamed body)."""

    done: bool = False
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    error_class: str | None = None  # "inband_error" or "malformed_sse"
    error_message: str | None = None
    choices: list[tuple[int, str, str | None]] | None = None
    """Every choice of the event as (index, text, finish_reason), for counting n > 1 choices."""

    @property
    def has_content(self) -> bool:
        """True when the event carries generated text (the only kind that counts as a token)."""
        return bool(self.text)


def parse_stream_event(data: str) -> StreamItem:
    """Interpret the `data` of one SSE event from a streamed completion or chat completion."""
    if data == DONE_SENTINEL:
        return StreamItem(done=True)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return StreamItem(error_class="malformed_sse", error_message=f"event is not JSON: {data[:200]!r}")
    return _interpret(payload, streamed=True)


def parse_response_body(body: bytes) -> StreamItem:
    """Interpret a whole non-streamed response body."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return StreamItem(error_class="malformed_sse", error_message=f"body is not JSON: {body[:200]!r}")
    return _interpret(payload, streamed=False)


def error_message_of(payload: Any) -> str | None:
    """The message of an OpenAI-style error payload, or None if `payload` is not one."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    if payload.get("object") == "error":
        return str(payload.get("message") or payload)
    return None


def _interpret(payload: Any, *, streamed: bool) -> StreamItem:
    message = error_message_of(payload)
    if message is not None:
        return StreamItem(error_class="inband_error", error_message=message)
    if not isinstance(payload, dict):
        return StreamItem(error_class="malformed_sse", error_message=f"not an object: {payload!r:.200}")
    choices = payload.get("choices")
    usage = _usage(payload.get("usage"))
    if not isinstance(choices, list):
        if usage is not None:
            return StreamItem(usage=usage)
        return StreamItem(error_class="malformed_sse", error_message="chunk has neither choices nor usage")
    texts: list[str] = []
    finish_reason: str | None = None
    parts: list[tuple[int, str, str | None]] = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            return StreamItem(error_class="malformed_sse", error_message="a choice is not an object")
        text = _choice_text(choice, streamed)
        if text:
            texts.append(text)
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            finish_reason = reason
        index = choice.get("index")
        index = index if isinstance(index, int) else position
        parts.append((index, text, reason if isinstance(reason, str) else None))
    return StreamItem(text="".join(texts), finish_reason=finish_reason, usage=usage, choices=parts)


def _choice_text(choice: dict[str, Any], streamed: bool) -> str:
    text = choice.get("text")
    if isinstance(text, str):
        return text
    part = choice.get("delta" if streamed else "message")
    if not isinstance(part, dict):
        return ""
    pieces = [part.get(key) for key in ("reasoning_content", "reasoning", "content")]
    return "".join(piece for piece in pieces if isinstance(piece, str))


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    return Usage(
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        completion_tokens=completion if isinstance(completion, int) else None,
    )
