"""Validate a completion or chat-completion request body into `GenerationParams`.

Anything the server cannot honour is an `ApiError` (400, or 404 for an unknown model), never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from servers.sim.config import SimConfig
from servers.sim.errors import ApiError
from servers.sim.vocab import count_message_words, count_words

Api = Literal["completions", "chat"]
MAX_CHOICES = 16
"""Most choices (`n`) one request may ask for."""


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What one generation request asks for, after validation."""

    api: Api
    stream: bool
    include_usage: bool
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    choices: int = 1
    """`n`: every choice streams the same scripted tokens under its own `index`."""


def parse_generation(api: Api, body: bytes, config: SimConfig) -> GenerationParams:
    """Parse and check `body` for `api`; raise `ApiError` on anything malformed."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    _check_model(payload, config)
    prompt_tokens = _prompt_tokens(payload) if api == "completions" else _chat_prompt_tokens(payload)
    stream = _optional(payload, "stream", bool, False)
    include_usage = _include_usage(payload, stream)
    n = _optional(payload, "n", int, 1)
    if not 1 <= n <= MAX_CHOICES:
        raise ApiError(400, f"n must be in [1, {MAX_CHOICES}], got {n}", "n")
    max_tokens = _max_tokens(payload, api)
    min_tokens = _optional(payload, "min_tokens", int, 0)
    if min_tokens < 0:
        raise ApiError(400, "min_tokens must be >= 0", "min_tokens")
    ignore_eos = _optional(payload, "ignore_eos", bool, False)
    if max_tokens is not None and min_tokens > max_tokens:
        raise ApiError(400, f"min_tokens ({min_tokens}) must be <= max_tokens ({max_tokens})", "min_tokens")
    output_tokens = output_length(config.output_tokens, max_tokens, min_tokens, ignore_eos)
    finish_reason = "length" if max_tokens is not None and output_tokens == max_tokens else "stop"
    return GenerationParams(api, stream, include_usage, prompt_tokens, output_tokens, finish_reason, n)


def output_length(default: int, max_tokens: int | None, min_tokens: int, ignore_eos: bool) -> int:
    """Tokens to generate: the server's length capped by `max_tokens` (exactly it with `ignore_eos`),
    never fewer than `min_tokens`."""
    if max_tokens is None:
        length = default
    elif ignore_eos:
        length = max_tokens
    else:
        length = min(max_tokens, default)
    return max(length, min_tokens)


def _check_model(payload: dict[str, Any], config: SimConfig) -> None:
    model = payload.get("model")
    if model is None:
        return
    if not isinstance(model, str):
        raise ApiError(400, "model must be a string", "model")
    if model != config.model:
        raise ApiError(404, f"The model `{model}` does not exist.", "model")


def _prompt_tokens(payload: dict[str, Any]) -> int:
    prompt = payload.get("prompt")
    if prompt is None:
        raise ApiError(400, "prompt is required", "prompt")
    if isinstance(prompt, str):
        return count_words(prompt)
    if isinstance(prompt, list) and prompt:
        if all(_is_int(item) for item in prompt):
            return len(prompt)
        if len(prompt) == 1:
            only = prompt[0]
            if isinstance(only, str):
                return count_words(only)
            if isinstance(only, list) and only and all(_is_int(item) for item in only):
                return len(only)
        if all(isinstance(item, str) for item in prompt):
            raise ApiError(400, "sim-server takes one prompt per request", "prompt")
    raise ApiError(400, "prompt must be a string, a list of one string, or a list of token ids", "prompt")


def _chat_prompt_tokens(payload: dict[str, Any]) -> int:
    messages = payload.get("messages")
    if messages is None:
        raise ApiError(400, "messages is required", "messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", "messages")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, "each message must be an object with a string role", "messages")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise ApiError(400, "message content must be a string or a list of parts", "messages")
    return count_message_words(messages)


def _max_tokens(payload: dict[str, Any], api: Api) -> int | None:
    key = "max_tokens"
    if api == "chat" and payload.get("max_completion_tokens") is not None:
        key = "max_completion_tokens"
    value = payload.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise ApiError(400, f"{key} must be an integer", key)
    if value < 1:
        raise ApiError(400, f"{key} must be at least 1, got {value}", key)
    return int(value)


def _include_usage(payload: dict[str, Any], stream: bool) -> bool:
    options = payload.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", "stream_options")
    if not stream:
        raise ApiError(400, "stream_options is only allowed with stream=true", "stream_options")
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise ApiError(400, "stream_options.include_usage must be a boolean", "stream_options")
    return include


def _optional(payload: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = payload.get(key)
    if value is None:
        return default
    if kind is int:
        ok = _is_int(value)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ApiError(400, f"{key} must be of type {kind.__name__}", key)
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
