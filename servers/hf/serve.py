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
from servers.hf.loading import load_model
from servers.hf.runner import GenerateRunner
from servers.hf.settings import ServerSettings
from servers.hf.warmup import default_batch_sizes, warm_up

log = logging.getLogger("servers.hf")


def run(settings: ServerSettings, *, access_log: bool = False) -> None:
    """Load the model and serve until a shutdown signal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.gil_switch_interval_ms is not None:
        sys.setswitchinterval(settings.gil_switch_interval_ms / 1e3)
    loaded = load_model(settings)
    runner = GenerateRunner.for_model(loaded)
    sizes = settings.warmup_batch_sizes
    if sizes is None:
        sizes = default_batch_sizes(settings.batching.max_batch_size, loaded.device)
    warmup = warm_up(runner, sizes, loaded.vocab_size, loaded.max_model_len) if sizes else None
    app = create_app(settings, loaded, runner, warmup)
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
    uvicorn.Server(config).run()
