"""OpenAI request bodies for `/v1/completions` and `/v1/chat/completions`, and their validation.

Field names, defaults and limits follow vLLM's OpenAI server, so the load generator can send the same
body to both servers (`ignore_eos`, `min_tokens`, `top_k` included). Unknown fields are ignored, as vLLM
does; known OpenAI features this server does not implement are rejected with a 400 when set to anything
but their no-op value.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from servers.hf.errors import bad_request
from servers.hf.params import GenerationParams

TokenIds = list[int]


class StreamOptions(BaseModel):
    """`stream_options` of a streamed request."""

    include_usage: bool = False
    continuous_usage_stats: bool = False


class _CommonRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    """Choices to generate for the one prompt: n rows of a batch (seeds `seed + i`, as vLLM)."""
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    min_tokens: int = 0
    user: str | None = None
    # Accepted only at their no-op values (see `_UNSUPPORTED`).
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: Any = None
    best_of: int | None = None
    use_beam_search: bool = False

    def _common_checks(self) -> None:
        if self.stream_options is not None and not self.stream:
            raise bad_request("stream_options may only be set when stream is true", "stream_options")

    def generation_params(self, max_tokens: int, max_n: int) -> GenerationParams:
        """Validated generation settings with `max_tokens` already resolved.

        Ranges, their order and their messages are vLLM's (`SamplingParams._verify_args`), so both
        servers refuse the same bodies with the same words; `max_n` is this server's `--max-n`.
        """
        temperature = 1.0 if self.temperature is None else self.temperature
        top_p = 1.0 if self.top_p is None else self.top_p
        top_k = 0 if self.top_k is None or self.top_k == -1 else self.top_k
        _check_ranges(self, temperature, top_p, top_k, max_tokens, max_n)
        if 0.0 < temperature < MIN_TEMPERATURE:
            temperature = MIN_TEMPERATURE  # vLLM raises it too: a smaller one overflows the softmax
        for name, no_op in _UNSUPPORTED.items():
            value = getattr(self, name, None)
            if value is not None and value not in no_op:
                raise bad_request(f"'{name}' is not supported by this server", name)
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if any(not stop for stop in stops):
            raise bad_request("stop cannot contain an empty string.", "stop")
        return GenerationParams(
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=self.seed,
            stop=tuple(stops),
            stop_token_ids=tuple(self.stop_token_ids or ()),
            ignore_eos=self.ignore_eos,
            min_tokens=self.min_tokens,
        )

    @property
    def include_usage(self) -> bool:
        """True when a streamed response ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


MIN_TEMPERATURE = 1e-2
"""vLLM's `_MAX_TEMP`: a temperature between 0 and this is raised to it."""


def _in_range(low: float, value: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


def _check_ranges(
    body: _CommonRequest, temperature: float, top_p: float, top_k: int, max_tokens: int, max_n: int
) -> None:
    """vLLM's sampling-parameter checks, in its order and with its messages; raise a 400."""
    n = body.n
    if n < 1:
        raise bad_request(f"n must be at least 1, got {n}.", "n")
    if n > max_n:
        raise bad_request(
            f"n must be at most {max_n}, got {n}. To increase this limit, start the server with a "
            "larger --max-n.",
            "n",
        )
    for name in ("presence_penalty", "frequency_penalty"):
        value = getattr(body, name)
        if value is not None and not _in_range(-2.0, value, 2.0):
            raise bad_request(f"{name} must be in [-2, 2], got {value}.", name)
    repetition = body.repetition_penalty
    if repetition is not None and not math.isfinite(repetition):
        raise bad_request(
            f"repetition_penalty must be a finite number, got {repetition}.", "repetition_penalty"
        )
    if repetition is not None and repetition <= 0.0:
        raise bad_request(
            f"repetition_penalty must be greater than zero, got {repetition}.", "repetition_penalty"
        )
    if not math.isfinite(temperature):
        raise bad_request(f"temperature must be a finite number, got {temperature}.", "temperature")
    if temperature < 0.0:
        raise bad_request(f"temperature must be non-negative, got {temperature}.", "temperature")
    if temperature > 2.0:
        raise bad_request(f"temperature must be in [0, 2], got {temperature}.", "temperature")
    if not 0.0 < top_p <= 1.0:
        raise bad_request(f"top_p must be in (0, 1], got {top_p}.", "top_p")
    if top_k < 0:
        raise bad_request(f"top_k must be 0 (disable), or at least 1, got {top_k}.", "top_k")
    if max_tokens < 1:
        raise bad_request(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens")
    if body.min_tokens < 0:
        raise bad_request(
            f"min_tokens must be greater than or equal to 0, got {body.min_tokens}.", "min_tokens"
        )
    if body.min_tokens > max_tokens:
        raise bad_request(
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {body.min_tokens}.",
            "min_tokens",
        )
    if temperature == 0.0 and n > 1:
        raise bad_request(f"n must be 1 when using greedy sampling, got {n}.", "n")


_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "repetition_penalty": (1, 1.0),
    "logit_bias": ({},),
    "logprobs": (False, 0),
    "best_of": (1,),
    "use_beam_search": (False,),
    "echo": (False,),
    "suffix": ("",),
    "top_logprobs": (0,),
    "tools": ([],),
    "tool_choice": ("none",),
    "response_format": ({"type": "text"},),
    "guided_json": (),
    "guided_regex": (),
    "guided_choice": (),
    "structured_outputs": (),
}


class CompletionRequest(_CommonRequest):
    """The body of `POST /v1/completions`."""

    prompt: str | list[str] | TokenIds | list[TokenIds]
    max_tokens: int | None = 16

    def single_prompt(self) -> str | TokenIds:
        """The one prompt of this request (a string or token ids)."""
        self._common_checks()
        prompt = self.prompt
        if isinstance(prompt, str):
            return prompt
        if not prompt:
            raise bad_request("prompt must not be empty", "prompt")
        if all(isinstance(p, int) for p in prompt):
            return [int(p) for p in prompt]  # type: ignore[arg-type]
        if len(prompt) != 1:
            raise bad_request(
                f"prompt holds {len(prompt)} prompts; this server takes one prompt per request", "prompt"
            )
        only = prompt[0]
        if isinstance(only, list) and not only:
            raise bad_request("prompt must not be empty", "prompt")
        return only  # type: ignore[return-value]


class TextPart(BaseModel):
    """One `{"type": "text", "text": ...}` part of a message's content."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One message of a chat."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's content as one string."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(_CommonRequest):
    """The body of `POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    add_generation_prompt: bool = True

    def requested_max_tokens(self) -> int | None:
        """`max_completion_tokens` or `max_tokens` (None: as many as fit the context)."""
        self._common_checks()
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    def template_messages(self) -> list[dict[str, str]]:
        """The messages as the chat template takes them."""
        return [{"role": m.role, "content": m.text()} for m in self.messages]
