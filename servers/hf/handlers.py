"""Serving one completion or chat request: validate, tokenize, queue, then stream or collect the result.

A request whose client goes away is withdrawn: dropped from the queue if it is still waiting, or
stopped at the next decoding step if its batch is running (the other rows go on).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from servers.hf.batcher import Batcher, QueueFullError, ShuttingDownError
from servers.hf.errors import APIError, bad_request
from servers.hf.loading import LoadedModel
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


def _check_model(ctx: ServingContext, name: str | None) -> None:
    if name is not None and name not in (ctx.settings.served_model_name, str(ctx.settings.model_dir)):
        raise APIError(404, f"The model `{name}` does not exist.", "model")


def _resolve_max_tokens(ctx: ServingContext, prompt_tokens: int, asked: int | None) -> int:
    limit = ctx.loaded.max_model_len
    if prompt_tokens >= limit:
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
    return ctx.loaded.encode(str(text), add_special_tokens=False)


async def serve_completion(ctx: ServingContext, body: CompletionRequest, request: Request) -> Response:
    """`POST /v1/completions`."""
    _check_model(ctx, body.model)
    ids = completion_prompt_ids(ctx, body)
    params = body.generation_params(_resolve_max_tokens(ctx, len(ids), body.max_tokens))
    return await _serve(ctx, "completion", GenRequest(ids, params), body.stream, body.include_usage, request)


async def serve_chat(ctx: ServingContext, body: ChatCompletionRequest, request: Request) -> Response:
    """`POST /v1/chat/completions`."""
    _check_model(ctx, body.model)
    asked = body.requested_max_tokens()
    ids = chat_prompt_ids(ctx, body)
    params = body.generation_params(_resolve_max_tokens(ctx, len(ids), asked))
    return await _serve(ctx, "chat", GenRequest(ids, params), body.stream, body.include_usage, request)


async def _serve(
    ctx: ServingContext, kind: Kind, gen: GenRequest, stream: bool, include_usage: bool, request: Request
) -> Response:
    try:
        ctx.batcher.submit(gen)
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
        return StreamingResponse(_stream(ctx, gen, writer), media_type="text/event-stream")
    return await _collect(ctx, gen, writer, request)


def _drain(event: Event, events: asyncio.Queue[Event]) -> tuple[str, Finish | None, Failure | None]:
    """`event` and every event already queued behind it, as one delta: text, finish, failure.

    While this request's coroutine waited its turn, the event loop may have served other streams and
    the batching thread queued further steps: their tokens are late already, so they go out in one
    chunk (as vLLM merges outputs a slow consumer has not read) instead of one HTTP write each.
    """
    parts: list[str] = []
    while True:
        if isinstance(event, Failure):
            return "".join(parts), None, event
        parts.append(event.text)
        if event.finish is not None or events.empty():
            return "".join(parts), event.finish, None
        event = events.get_nowait()


async def _stream(ctx: ServingContext, gen: GenRequest, writer: ResponseWriter) -> AsyncIterator[bytes]:
    finished = False
    try:
        first = True
        while True:
            text, finish, failure = _drain(await gen.events.get(), gen.events)
            if text or finish is not None:
                if first and writer.kind == "chat":
                    yield writer.role_chunk()
                first = False
                yield writer.delta_chunk(text, finish)
            elif first and failure is None and writer.kind == "chat":
                yield writer.role_chunk()
                first = False
            if failure is not None:
                finished = True
                yield writer.error_event(failure.status, failure.message)
                break
            if finish is not None:
                finished = True
                if writer.include_usage:
                    yield writer.usage_chunk(gen.prompt_tokens, finish.completion_tokens)
                break
        yield DONE
    finally:
        if not finished:
            ctx.batcher.withdraw(gen)


async def _gather(gen: GenRequest) -> tuple[str, Finish]:
    parts: list[str] = []
    while True:
        event = await gen.events.get()
        if isinstance(event, Failure):
            raise APIError(event.status, event.message)
        parts.append(event.text)
        if event.finish is not None:
            return "".join(parts), event.finish


async def _client_gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _collect(
    ctx: ServingContext, gen: GenRequest, writer: ResponseWriter, request: Request
) -> Response:
    gather = asyncio.ensure_future(_gather(gen))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({gather, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not gather.done():
            gather.cancel()
            ctx.batcher.withdraw(gen)
    if gather.cancelled():
        return Response(status_code=499)
    text, finish = gather.result()
    headers = {BATCH_ID_HEADER: str(gen.batch_id)} if gen.batch_id is not None else None
    return Response(
        dumps(writer.body(text, finish, gen.prompt_tokens)), media_type="application/json", headers=headers
    )
