"""The bytes clients receive: OpenAI response bodies and SSE chunks, shaped as vLLM sends them.

Completions stream one `text_completion` chunk per token (per choice, with its `index`, when n > 1);
chat streams start with a role-only chunk (one per choice)
(`delta: {"role": "assistant", "content": ""}`), then one chunk per token, the last carrying
`finish_reason`; with `stream_options.include_usage` a chunk with empty `choices` and `usage` follows;
every stream ends with `data: [DONE]`. A failure mid-stream is an in-band `{"error": ...}` event.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from servers.hf.errors import error_payload
from servers.hf.request import Finish

try:
    import orjson

    _dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # the GPU host has no orjson

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


DONE = b"data: [DONE]\n\n"
Kind = Literal["completion", "chat"]


def _fingerprint() -> str:
    try:
        return "hf-server-transformers-" + importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        return "hf-server"


SYSTEM_FINGERPRINT = _fingerprint()


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return _dumps(value)


def sse(value: Any) -> bytes:
    """One SSE event carrying `value` as JSON."""
    return b"data: " + _dumps(value) + b"\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """An OpenAI `usage` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def _finish_fields(finish: Finish | None) -> tuple[str | None, str | int | None]:
    if finish is None:
        return None, None
    return finish.reason, finish.stop_reason


class ResponseWriter:
    """Builds one request's response, streamed or whole."""

    def __init__(self, kind: Kind, model: str, include_usage: bool = False) -> None:
        self.kind = kind
        self.model = model
        self.include_usage = include_usage
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._object = "chat.completion.chunk" if kind == "chat" else "text_completion"

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload: dict[str, Any] = {
            "id": self.id,
            "object": self._object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return sse(payload)

    def role_chunk(self, index: int = 0) -> bytes:
        """The chat stream's first chunk of choice `index`: the role, no content."""
        return self._chunk(
            [
                {
                    "index": index,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            prompt_token_ids=None,
            prompt_text=None,
        )

    def delta_chunk(self, text: str, finish: Finish | None, index: int = 0, last: bool = True) -> bytes:
        """A chunk of choice `index` with new text and, on the row's last step, its finish reason;
        `last` is False while other choices of the request are still going."""
        reason, stop_reason = _finish_fields(finish)
        choice: dict[str, Any]
        if self.kind == "chat":
            choice = {"index": index, "delta": {"content": text}, "logprobs": None, "finish_reason": reason}
            if finish is not None:
                choice["stop_reason"] = stop_reason
            choice["token_ids"] = None
        else:
            choice = {
                "index": index,
                "text": text,
                "logprobs": None,
                "finish_reason": reason,
                "stop_reason": stop_reason,
                "prompt_token_ids": None,
                "token_ids": None,
            }
        if finish is None or self.include_usage or not last:
            return self._chunk([choice])
        # As vLLM: the fingerprint goes on the stream's last message (the usage chunk, when there is one).
        return self._chunk([choice], system_fingerprint=SYSTEM_FINGERPRINT)

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The last chunk before `[DONE]` when the client asked for usage."""
        return self._chunk(
            [], usage=usage(prompt_tokens, completion_tokens), system_fingerprint=SYSTEM_FINGERPRINT
        )

    @staticmethod
    def error_event(status: int, message: str) -> bytes:
        """An in-band error event."""
        return sse(error_payload(status, message))

    def body(self, outputs: list[tuple[str, Finish]], prompt_tokens: int) -> dict[str, Any]:
        """The whole non-streamed response: one choice per (text, finish), indexed in order."""
        choices = [self._whole_choice(index, text, finish) for index, (text, finish) in enumerate(outputs)]
        usage_value = {
            **usage(prompt_tokens, sum(finish.completion_tokens for _, finish in outputs)),
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        }
        return {
            "id": self.id,
            "object": "chat.completion" if self.kind == "chat" else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "service_tier": None,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "usage": usage_value,
        }

    def _whole_choice(self, index: int, text: str, finish: Finish) -> dict[str, Any]:
        if self.kind == "chat":
            message = {
                "role": "assistant",
                "content": text,
                "refusal": None,
                "annotations": None,
                "audio": None,
                "function_call": None,
                "reasoning": None,
            }
            return {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": finish.reason,
                "stop_reason": finish.stop_reason,
                "token_ids": None,
            }
        return {
            "index": index,
            "text": text,
            "logprobs": None,
            "finish_reason": finish.reason,
            "stop_reason": finish.stop_reason,
            "token_ids": None,
            "prompt_logprobs": None,
            "prompt_token_ids": None,
        }
