"""Pre-encoded bytes of OpenAI responses, shaped exactly as vLLM sends them.

The per-token hot path only concatenates ready bytes: the JSON of every vocabulary token's chunk
tail is built once at import, and each response builds its chunk head once. Completions stream one
`text_completion` chunk per token, the last one carrying `finish_reason`; chat streams a role-only
first chunk, one `chat.completion.chunk` per token, then a chunk with empty content and the
`finish_reason`. With `stream_options.include_usage` a chunk with `"choices": []` and `usage`
follows; `data: [DONE]` ends every stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from servers.sim.errors import error_payload
from servers.sim.params import Api
from servers.sim.vocab import VOCABULARY, generated_text

DONE_EVENT = b"data: [DONE]\n\n"
MALFORMED_EVENT = b"data: {this is not JSON\n\n"
_NULLS = b'"logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'


def _json_inner(text: str) -> bytes:
    """`text` as the inside of a JSON string literal."""
    return orjson.dumps(text)[1:-1]


_TOKEN_JSON: tuple[bytes, ...] = tuple(_json_inner(tok) for tok in VOCABULARY)
_CONTENT_TAILS: dict[Api, tuple[bytes, ...]] = {
    "completions": tuple(tok + b'",' + _NULLS for tok in _TOKEN_JSON),
    "chat": tuple(tok + b'"},' + _NULLS for tok in _TOKEN_JSON),
}
_CLOSE: dict[Api, bytes] = {"completions": b'",', "chat": b'"},'}


def _finish_tail(api: Api, reason: str) -> bytes:
    reason_json = b'"finish_reason":"' + reason.encode() + b'",'
    return _CLOSE[api] + b'"logprobs":null,' + reason_json + b'"stop_reason":null}]}\n\n'


def content_tails(api: Api, count: int) -> list[bytes]:
    """The chunk tails (token text onward) of tokens 0..count-1, none of them final."""
    tails = _CONTENT_TAILS[api]
    size = len(tails)
    whole, rest = divmod(count, size)
    return list(tails) * whole + list(tails[:rest])


def frame(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk (chunked transfer coding) holding `payload`."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


CHUNKED_END = b"0\r\n\r\n"


class StreamWire:
    """The ready-made events of one streamed response."""

    __slots__ = ("api", "head", "prefix", "tails", "prefixes")

    def __init__(
        self, api: Api, response_id: str, created: int, model: str, output_tokens: int, choices: int = 1
    ) -> None:
        obj = b"text_completion" if api == "completions" else b"chat.completion.chunk"
        self.api: Api = api
        self.head = (
            b'data: {"id":"'
            + _json_inner(response_id)
            + b'","object":"'
            + obj
            + b'","created":'
            + str(created).encode()
            + b',"model":"'
            + _json_inner(model)
            + b'",'
        )
        key = b'"text":"' if api == "completions" else b'"delta":{"content":"'
        # With n choices every token step is n events, one per choice index (as vLLM interleaves them).
        self.prefixes = [self.head + b'"choices":[{"index":%d,' % i + key for i in range(choices)]
        self.prefix = self.prefixes[0]
        self.tails = content_tails(api, output_tokens)

    def token(self, index: int) -> bytes:
        """The event(s) of token `index` (not final), one per choice."""
        tail = self.tails[index]
        if len(self.prefixes) == 1:
            return self.prefix + tail
        return b"".join(prefix + tail for prefix in self.prefixes)

    def tokens(self, start: int, stop: int) -> bytes:
        """The events of tokens start..stop-1 (none final), concatenated."""
        if len(self.prefixes) == 1:
            return self.prefix + self.prefix.join(self.tails[start:stop])
        return b"".join(self.token(i) for i in range(start, stop))

    def last_token(self, index: int, reason: str) -> bytes:
        """The event of the last token of every choice: for completions it carries `finish_reason`;
        for chat the token chunk is followed by an empty-content chunk that does."""
        if self.api == "completions":
            token = _TOKEN_JSON[index % len(_TOKEN_JSON)]
            return b"".join(prefix + token + _finish_tail(self.api, reason) for prefix in self.prefixes)
        return b"".join(
            prefix + self.tails[index] + prefix + _finish_tail(self.api, reason) for prefix in self.prefixes
        )

    def role(self) -> bytes:
        """Chat's role-only first event of every choice (no generated text)."""
        return b"".join(
            self.head + b'"choices":[{"index":%d,"delta":{"role":"assistant","content":""},' % i + _NULLS
            for i in range(len(self.prefixes))
        )

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The usage event (`"choices": []`)."""
        return self.head + b'"choices":[],"usage":' + usage_json(prompt_tokens, completion_tokens) + b"}\n\n"


def usage_json(prompt_tokens: int, completion_tokens: int) -> bytes:
    """The `usage` object as vLLM writes it."""
    return b'{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d}' % (
        prompt_tokens,
        prompt_tokens + completion_tokens,
        completion_tokens,
    )


def error_event(status: int, message: str) -> bytes:
    """An in-band `{"error": ...}` event."""
    return b"data: " + orjson.dumps(error_payload(status, message)) + b"\n\n"


def full_body(
    api: Api,
    response_id: str,
    created: int,
    model: str,
    params_prompt: int,
    completion: int,
    finish_reason: str,
    choices: int = 1,
) -> bytes:
    """A whole non-streamed response body (`choices` identical choices of `completion` tokens each)."""
    text = generated_text(completion)
    choice: dict[str, Any]
    if api == "completions":
        obj = "text_completion"
        choice = {
            "index": 0,
            "text": text,
            "logprobs": None,
            "finish_reason": finish_reason,
            "stop_reason": None,
            "prompt_logprobs": None,
        }
    else:
        obj = "chat.completion"
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "tool_calls": []},
            "logprobs": None,
            "finish_reason": finish_reason,
            "stop_reason": None,
        }
    return orjson.dumps(
        {
            "id": response_id,
            "object": obj,
            "created": created,
            "model": model,
            "choices": [{**choice, "index": i} for i in range(choices)],
            "usage": {
                "prompt_tokens": params_prompt,
                "total_tokens": params_prompt + completion * choices,
                "completion_tokens": completion * choices,
            },
        }
    )
