"""Serving one completion or chat request: validate, tokenize, queue, then stream or collect the result.

A request for `n` choices is `n` rows of a batch that share the prompt and one event queue; its
stream interleaves the choices' chunks, each with its `index`, as vLLM's does. A request whose
client goes away is withdrawn (all of its rows): dropped from the queue if it is still waiting, or
stopped at the next decoding step if its batch is running (the other rows go on).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from servers.hf.batcher import Batcher, QueueFullError, ShuttingDownError
from servers.hf.errors import APIError, bad_request
from servers.hf.loading import LoadedModel
from servers.hf.params import GenerationParams
from servers.hf.protocol import ChatCompletionRequest, CompletionRequest
from servers.hf.request import Event, Failure, Finish, GenRequest
from servers.hf.settings import ServerSettings
from servers.hf.wire import DONE, Kind, ResponseWriter, dumps

BATCH_ID_HEADER = "x-hf-server-batch-id"


@dataclass(frozen=True)
class ServingContext:
    """What the handlers share."""

    settings: ServerSettings
    loaded: LoadedModel
    batcher: Batcher
    vocab_size: int
    tokenizer_pool: ThreadPoolExecutor
    """Where request bodies are tokenized, off the event loop."""
    max_chars_per_token: int
    """Length of the longest vocabulary entry (as vLLM computes it): bounds a prompt's characters."""


def _check_model(ctx: ServingContext, name: str | None) -> None:
    if name is not None and name not in (ctx.settings.served_model_name, str(ctx.settings.model_dir)):
        raise APIError(404, f"The model `{name}` does not exist.", "model")


def _check_text_length(ctx: ServingContext, text: str) -> None:
    """vLLM's check before tokenizing: a text longer than the context times the longest vocabulary
    entry cannot fit, so it is refused at once (a megabytes-long prompt costs no tokenization)."""
    limit = ctx.loaded.max_model_len
    max_chars = limit * ctx.max_chars_per_token
    if len(text) > max_chars:
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, your prompt contains "
            f"{len(text)} characters (more than {max_chars} characters, which is the upper bound for "
            f"{limit} input tokens). Please reduce the length of the input prompt.",
            "input_text",
        )


def _resolve_max_tokens(ctx: ServingContext, prompt_tokens: int, asked: int | None) -> int:
    limit = ctx.loaded.max_model_len
    if prompt_tokens > limit:
        raise bad_request(  # vLLM 0.32's words
            f"This model's maximum context length is {limit} tokens. However, your prompt contains "
            f"{prompt_tokens} input tokens, which exceeds this limit even without any output tokens. "
            "Please reduce the length of the input prompt.",
            "input_tokens",
        )
    if prompt_tokens == limit:
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the input messages.",
            "messages",
        )
    if asked is None:
        return limit - prompt_tokens
    if asked >= 1 and prompt_tokens + asked > limit:
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_tokens + asked} tokens ({prompt_tokens} in the messages, {asked} in the completion). "
            "Please reduce the length of the messages or completion.",
            "max_tokens",
        )
    return asked


def completion_prompt_ids(ctx: ServingContext, body: CompletionRequest) -> list[int]:
    """Token ids of a completion request's prompt."""
    prompt = body.single_prompt()
    if isinstance(prompt, str):
        _check_text_length(ctx, prompt)
        ids = ctx.loaded.encode(prompt, add_special_tokens=True)
    else:
        bad = [t for t in prompt if not 0 <= t < ctx.vocab_size]
        if bad:
            raise bad_request(
                f"prompt holds token ids outside the vocabulary [0, {ctx.vocab_size}): {bad[:5]}", "prompt"
            )
        ids = list(prompt)
    if not ids:
        raise bad_request("prompt must not be empty", "prompt")
    return ids


def chat_prompt_ids(ctx: ServingContext, body: ChatCompletionRequest) -> list[int]:
    """Token ids of a chat request's messages, through the tokenizer's chat template."""
    try:
        text = ctx.loaded.tokenizer.apply_chat_template(
            body.template_messages(), add_generation_prompt=body.add_generation_prompt, tokenize=False
        )
    except Exception as exc:  # noqa: BLE001 - a template error is the caller's input error
        raise bad_request(f"the chat template could not render these messages: {exc}", "messages") from exc
    _check_text_length(ctx, str(text))
    return ctx.loaded.encode(str(text), add_special_tokens=False)


async def _prompt_ids(ctx: ServingContext, tokenize: Callable[[], list[int]]) -> list[int]:
    """Run `tokenize` (validation and tokenization of one body) off the event loop.

    A long prompt takes seconds to tokenize; on the event loop it would stall every other request's
    stream and admission (issue 16: a 21 MB body held a 2-token request for 20 s).
    """
    return await asyncio.get_running_loop().run_in_executor(ctx.tokenizer_pool, tokenize)


def _rows(ids: list[int], params: GenerationParams, n: int) -> list[GenRequest]:
    """The batch rows of one request: one per choice, sharing the prompt and one event queue.

    With a seed, choice i samples with seed + i, as vLLM's parallel sampling does, so the choices
    differ and each is reproducible.
    """
    first = GenRequest(ids, params)
    if n == 1:
        return [first]
    rows = [first]
    for index in range(1, n):
        seed = None if params.seed is None else params.seed + index
        rows.append(GenRequest(ids, replace(params, seed=seed), events=first.events, choice_index=index))
    for row in rows:
        row.group = first.request_id
    return rows


async def serve_completion(ctx: ServingContext, body: CompletionRequest, request: Request) -> Response:
    """`POST /v1/completions`."""
    _check_model(ctx, body.model)
    ids = await _prompt_ids(ctx, lambda: completion_prompt_ids(ctx, body))
    params = body.generation_params(_resolve_max_tokens(ctx, len(ids), body.max_tokens), ctx.settings.max_n)
    rows = _rows(ids, params, body.n)
    return await _serve(ctx, "completion", rows, body.stream, body.include_usage, request)


async def serve_chat(ctx: ServingContext, body: ChatCompletionRequest, request: Request) -> Response:
    """`POST /v1/chat/completions`."""
    _check_model(ctx, body.model)
    asked = body.requested_max_tokens()
    ids = await _prompt_ids(ctx, lambda: chat_prompt_ids(ctx, body))
    params = body.generation_params(_resolve_max_tokens(ctx, len(ids), asked), ctx.settings.max_n)
    rows = _rows(ids, params, body.n)
    return await _serve(ctx, "chat", rows, body.stream, body.include_usage, request)


async def _serve(
    ctx: ServingContext,
    kind: Kind,
    rows: list[GenRequest],
    stream: bool,
    include_usage: bool,
    request: Request,
) -> Response:
    try:
        ctx.batcher.submit_rows(rows)
    except QueueFullError:
        raise APIError(
            503,
            f"The server is overloaded: {ctx.settings.batching.max_queue} requests are already waiting "
            "(--max-queue). Retry later.",
        ) from None
    except ShuttingDownError:
        raise APIError(503, "The server is shutting down.") from None
    writer = ResponseWriter(kind, ctx.settings.served_model_name, include_usage)
    if stream:
        return StreamingResponse(_stream(ctx, rows, writer), media_type="text/event-stream")
    return await _collect(ctx, rows, writer, request)


def _drain(
    first: tuple[int, Event], events: asyncio.Queue[tuple[int, Event]]
) -> tuple[dict[int, list[str]], dict[int, Finish], Failure | None]:
    """`first` and every event already queued behind it, as one delta per choice: texts, finishes,
    and a failure (which ends the request).

    While this request's coroutine waited its turn, the event loop may have served other streams and
    the batching thread queued further steps: their tokens are late already, so they go out in one
    chunk per choice (as vLLM merges outputs a slow consumer has not read) instead of one HTTP write
    each.
    """
    texts: dict[int, list[str]] = {}
    finishes: dict[int, Finish] = {}
    item: tuple[int, Event] | None = first
    while item is not None:
        index, event = item
        if isinstance(event, Failure):
            return texts, finishes, event
        texts.setdefault(index, []).append(event.text)
        if event.finish is not None:
            finishes[index] = event.finish
        item = None if events.empty() else events.get_nowait()
    return texts, finishes, None


def _withdraw(ctx: ServingContext, rows: list[GenRequest]) -> None:
    for row in rows:
        ctx.batcher.withdraw(row)


async def _stream(
    ctx: ServingContext, rows: list[GenRequest], writer: ResponseWriter
) -> AsyncIterator[bytes]:
    events = rows[0].events
    live = set(range(len(rows)))
    completion_tokens = 0
    finished = False
    try:
        started = False
        while live:
            texts, finishes, failure = _drain(await events.get(), events)
            if texts and not started and writer.kind == "chat":
                for index in range(len(rows)):  # as vLLM: every choice's role chunk first
                    yield writer.role_chunk(index)
            started = started or bool(texts)
            for index, parts in texts.items():
                text = "".join(parts)
                finish = finishes.get(index)
                if finish is not None:
                    live.discard(index)
                    completion_tokens += finish.completion_tokens
                if text or finish is not None:
                    yield writer.delta_chunk(text, finish, index, last=not live)
            if failure is not None:
                finished = True
                yield writer.error_event(failure.status, failure.message)
                break
        else:
            finished = True
            if writer.include_usage:
                yield writer.usage_chunk(rows[0].prompt_tokens, completion_tokens)
        yield DONE
    finally:
        if not finished:
            _withdraw(ctx, rows)


async def _gather(rows: list[GenRequest]) -> list[tuple[str, Finish]]:
    events = rows[0].events
    parts: list[list[str]] = [[] for _ in rows]
    finishes: list[Finish | None] = [None] * len(rows)
    left = len(rows)
    while left:
        index, event = await events.get()
        if isinstance(event, Failure):
            raise APIError(event.status, event.message)
        parts[index].append(event.text)
        if event.finish is not None:
            finishes[index] = event.finish
            left -= 1
    return [("".join(p), f) for p, f in zip(parts, finishes, strict=True) if f is not None]


async def _client_gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _collect(
    ctx: ServingContext, rows: list[GenRequest], writer: ResponseWriter, request: Request
) -> Response:
    gather = asyncio.ensure_future(_gather(rows))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({gather, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not gather.done():
            gather.cancel()
            _withdraw(ctx, rows)
    if gather.cancelled():
        return Response(status_code=499)
    outputs = gather.result()
    batch_id = rows[0].batch_id
    headers = {BATCH_ID_HEADER: str(batch_id)} if batch_id is not None else None
    return Response(
        dumps(writer.body(outputs, rows[0].prompt_tokens)), media_type="application/json", headers=headers
    )
