"""Running the app under uvicorn, with graceful shutdown.

On SIGTERM or SIGINT uvicorn stops accepting connections and gives in-flight requests
`shutdown_timeout_s` to finish (the batcher keeps running meanwhile); requests still open after that
are cancelled, which stops their rows at the next decoding step. Then the batcher fails anything still
queued with a 503 and its thread is joined.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from servers.hf.app import create_app
from servers.hf.batcher import BatchRunner
from servers.hf.engine import EngineMain, RemoteRunner, run_warmup
from servers.hf.loading import LoadedModel, load_model, resolve_device
from servers.hf.runner import GenerateRunner
from servers.hf.settings import ServerSettings
from servers.hf.warmup import WarmupReport

log = logging.getLogger("servers.hf")


def run(settings: ServerSettings, *, access_log: bool = False, engine_main: EngineMain | None = None) -> None:
    """Load the model and serve until a shutdown signal; `engine_main` replaces what the engine
    process runs (with `--engine process`; a benchmark's paced stand-in for the model)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.gil_switch_interval_ms is not None:
        sys.setswitchinterval(settings.gil_switch_interval_ms / 1e3)
    engine = resolve_engine(settings)
    remote: RemoteRunner | None = None
    runner: BatchRunner
    loaded: LoadedModel
    warmup: WarmupReport | None
    if engine == "process":
        remote = runner = RemoteRunner(settings, engine_main)
        loaded, warmup = remote.loaded_model(settings), remote.warmup
        log.info("generate runs in engine process %s", remote.pid)
    else:
        loaded = load_model(settings)
        generate = GenerateRunner.for_model(loaded)
        runner, warmup = generate, run_warmup(settings, loaded, generate)
    app = create_app(settings, loaded, runner, warmup, engine=engine)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_s)),
        log_level="info",
    )
    log.info(
        "serving %s as %r on http://%s:%d",
        settings.model_dir,
        settings.served_model_name,
        settings.host,
        settings.port,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        if remote is not None:
            remote.close()


def resolve_engine(settings: ServerSettings) -> str:
    """`auto` -> `process` when the model runs on CUDA, else `thread`."""
    if settings.engine != "auto":
        return settings.engine
    on_cuda = settings.device_map is not None or resolve_device(settings.device).type == "cuda"
    return "process" if on_cuda else "thread"
