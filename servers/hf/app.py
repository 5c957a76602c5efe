"""The FastAPI application: routes, error handling, authentication and the batcher's lifetime."""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from servers.hf.batcher import Batcher, BatchRunner
from servers.hf.body_limit import BodyLimit
from servers.hf.engine import RemoteRunner
from servers.hf.errors import APIError, error_response
from servers.hf.handlers import ServingContext, serve_chat, serve_completion
from servers.hf.loading import LoadedModel
from servers.hf.metrics import ServerMetrics
from servers.hf.protocol import ChatCompletionRequest, CompletionRequest
from servers.hf.runner import GenerateRunner
from servers.hf.settings import ServerSettings
from servers.hf.warmup import WarmupReport
from servers.hf.wire import dumps

SAMPLING_STRATEGY = (
    "one greedy generate call per batch; a per-row logits processor draws each sampling row's token "
    "(temperature, top-k, top-p, per-request seed)"
)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        if error.get("type") == "json_invalid":
            return f"The request body is not valid JSON: {error.get('msg')}"
        parts.append(f"{location or 'body'}: {error.get('msg')}")
    return "Invalid request: " + "; ".join(parts)


def _json(value: Any) -> Response:
    return Response(dumps(value), media_type="application/json")


def create_app(
    settings: ServerSettings,
    loaded: LoadedModel,
    runner: BatchRunner | None = None,
    warmup: WarmupReport | None = None,
    engine: str = "thread",
) -> FastAPI:
    """The app serving `loaded`; `runner` replaces the generate runner (tests inject faults with it);
    `warmup` is what the start-up warm-up ran, and `engine` where `generate` runs, for `/config`."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics = ServerMetrics(settings.served_model_name, loaded.max_model_len)
    if runner is None:
        runner = GenerateRunner.for_model(loaded)
    batcher = Batcher(runner, settings.batching, metrics)
    tokenizer_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hf-tokenize")
    max_chars_per_token = max(len(token) for token in loaded.tokenizer.get_vocab())
    ctx = ServingContext(settings, loaded, batcher, loaded.vocab_size, tokenizer_pool, max_chars_per_token)
    warmup_report = warmup.public() if warmup is not None else None
    created = int(time.time())
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            await batcher.close()
            tokenizer_pool.shutdown(wait=False, cancel_futures=True)

    async def authorize(request: Request) -> None:
        if settings.api_key and request.headers.get("authorization") != f"Bearer {settings.api_key}":
            raise APIError(401, "Invalid or missing API key: send 'Authorization: Bearer <key>'.")

    app = FastAPI(title="servebench HF server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.get("/metrics", include_in_schema=False)
    async def _metrics() -> Response:
        # Always the classic text format, whatever the Accept header asks for: prometheus-client's
        # OpenMetrics output (which Prometheus negotiates first) turns the `:` of `vllm:` names into
        # `_`, and the dashboards, which speak vLLM's names, would then find no HF-server series.
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        return error_response(APIError(400, _validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error_response(APIError(exc.status_code, str(exc.detail)))

    def config_payload() -> dict[str, Any]:
        return {
            "server": "hf",
            **settings.public(),
            "device": str(loaded.device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "max_model_len": loaded.max_model_len,
            "batching": "naive: one generate call per batch; no request joins a running batch",
            **loaded.attention.public(),
            "warmup": warmup_report,
            "engine": engine,
            "engine_pid": runner.pid if isinstance(runner, RemoteRunner) else None,
            "sampling": SAMPLING_STRATEGY,
            "cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
            "versions": {name: _version(name) for name in ("torch", "transformers", "fastapi", "uvicorn")},
            **batcher.stats(),
        }

    @app.get("/health")
    async def health() -> Response:
        alive = not isinstance(runner, RemoteRunner) or runner.alive
        return Response(status_code=200 if state["ready"] and alive else 503)

    @app.get("/config")
    async def config() -> Response:
        return _json(config_payload())

    @app.get("/batches")
    async def batches(after: int = 0) -> Response:
        """The batches run since batch id `after`: shape, fill, wait, prefill and decode-step times."""
        return _json(
            {
                "max_batch_size": settings.batching.max_batch_size,
                "batches_started": batcher.batches_started,
                "batches": [r.public() for r in batcher.log.after(after)],
            }
        )

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models() -> Response:
        card = {
            "id": settings.served_model_name,
            "object": "model",
            "created": created,
            "owned_by": "servebench",
            "root": str(settings.model_dir),
            "parent": None,
            "max_model_len": loaded.max_model_len,
            "permission": [],
            "metadata": config_payload(),
        }
        return _json({"object": "list", "data": [card]})

    @app.post("/v1/completions", dependencies=[Depends(authorize)])
    async def completions(body: CompletionRequest, request: Request) -> Response:
        return await serve_completion(ctx, body, request)

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        return await serve_chat(ctx, body, request)

    return app
