"""One OpenAI completion or chat-completion request: its JSON body, its headers, its HTTP/1.1 bytes.

`http1_request` is the one place that lays out a request on the wire, for every transport that
writes HTTP/1.1 itself (`transport_http1`, `loadgen.locust.transport`); httpx builds its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from loadgen.errors import ConfigError
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt


def request_body(target: Target, options: RequestOptions, prompt: Prompt) -> dict[str, Any]:
    """The request body as a dict: the prompt, output-length controls, sampling and `extra_body`."""
    body: dict[str, Any] = {"model": target.model}
    if options.api == "chat":
        if prompt.messages is not None:
            body["messages"] = [dict(message) for message in prompt.messages]
        else:
            body["messages"] = [{"role": "user", "content": prompt.text}]
    else:
        if prompt.text is None:
            raise ConfigError("these prompts are chat messages: use the chat API (--api chat)")
        body["prompt"] = prompt.text
    max_tokens = prompt.output_tokens if prompt.output_tokens is not None else options.max_tokens
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body["stream"] = options.stream
    if options.stream and options.include_usage:
        body["stream_options"] = {"include_usage": True}
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.seed is not None:
        body["seed"] = options.seed
    if options.ignore_eos:
        body["ignore_eos"] = True
    if options.min_tokens is not None:
        body["min_tokens"] = options.min_tokens
    if options.n != 1:
        body["n"] = options.n
    body.update(options.extra_body)
    return body


def request_headers(target: Target, options: RequestOptions, request_id: str) -> dict[str, str]:
    """Headers every request carries (besides Host and Content-Length, which the client adds)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if options.stream else "application/json",
        "X-Request-Id": request_id,
        "User-Agent": "servebench-loadgen",
    }
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    headers.update(options.extra_headers)
    return headers


def encode_body(body: dict[str, Any]) -> bytes:
    """The body as compact JSON bytes."""
    return orjson.dumps(body)


def http1_request(path: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The whole HTTP/1.1 POST as one bytes object, to leave in one write.

    Request line, `Host` (`host`: host[:port] as the URL gives it), `Content-Length`, `headers` in
    their order, a blank line, then `body`.
    """
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
