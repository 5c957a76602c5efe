"""The scripted server's routes, and running it on uvloop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import orjson

from servers.sim.admission import Admission, Slots
from servers.sim.config import SimConfig
from servers.sim.errors import error_body
from servers.sim.generate import Generator
from servers.sim.httpproto import Connection, Exchange, Request
from servers.sim.metrics import SimMetrics
from servers.sim.pacing import Pacer
from servers.sim.static_batches import StaticBatches
from servers.sim.timer import DeadlineTimer
from servers.sim.truth import TruthStore

log = logging.getLogger("servers.sim")

PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
_GENERATION_PATHS = {"/v1/completions": "completions", "/v1/chat/completions": "chat"}
_ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/completions": ("POST",),
    "/v1/chat/completions": ("POST",),
    "/v1/models": ("GET",),
    "/health": ("GET",),
    "/metrics": ("GET",),
    "/sim/truth": ("GET", "DELETE"),
    "/sim/config": ("GET",),
    "/batches": ("GET",),
}


class SimApp:
    """Routes requests; holds the server-wide state (settings, truth, metrics, queue)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.truth = TruthStore(config.truth_keep, config.truth_file)
        self.metrics = SimMetrics(config.model)
        self.admission: Slots = (
            StaticBatches(config.max_concurrency or 1, config.batch_wait_ms)
            if config.batching == "static"
            else Admission(config.max_concurrency)
        )
        self.generator = Generator(config, Pacer(config), self.admission, self.metrics, self.truth)
        self.created = int(time.time())

    async def handle(self, request: Request, ex: Exchange) -> None:
        """Answer one request."""
        path = request.path.rstrip("/") or "/"
        methods = _ROUTES.get(path)
        if methods is None:
            ex.respond(404, error_body(404, f"no route {request.path}"))
            return
        if request.method not in methods:
            ex.respond(405, error_body(405, f"{request.method} is not allowed on {path}"))
            return
        api = _GENERATION_PATHS.get(path)
        if api == "completions":
            await self.generator.serve("completions", request, ex)
        elif api == "chat":
            await self.generator.serve("chat", request, ex)
        elif path == "/health":
            ex.respond(200, b"")
        elif path == "/metrics":
            self.metrics.running = self.admission.running
            self.metrics.waiting = self.admission.waiting
            ex.respond(200, self.metrics.render(), PROMETHEUS)
        elif path == "/v1/models":
            ex.respond(200, self._models())
        elif path == "/batches":
            self._batches(request.query, ex)
        elif path == "/sim/config":
            ex.respond(200, orjson.dumps(self.config.as_json()))
        elif request.method == "DELETE":
            ex.respond(200, orjson.dumps({"cleared": self.truth.clear()}))
        else:
            ex.respond(200, self._truth(request.query))

    def _batches(self, query: bytes, ex: Exchange) -> None:
        """`GET /batches[?after=ID]` on a static sim, as the HF server answers it; 404 on a continuous
        one, as on vLLM (the comparison then stops asking)."""
        if not isinstance(self.admission, StaticBatches):
            ex.respond(404, error_body(404, "no /batches: this sim batches continuously"))
            return
        after = parse_qs(query.decode("latin-1")).get("after", ["0"])[0]
        if not after.isdigit():
            ex.respond(400, error_body(400, f"after must be a batch id, got {after!r}", "after"))
            return
        ex.respond(200, orjson.dumps(self.admission.after(int(after))))

    def _truth(self, query: bytes) -> bytes:
        """`GET /sim/truth[?request_id=ID][&tokens=0]`: all kept records, or one request's; `tokens=0`
        leaves out the per-token stamps (much smaller for long runs)."""
        params = parse_qs(query.decode("latin-1"))
        request_id = params.get("request_id", [None])[0]
        with_tokens = params.get("tokens", ["1"])[0] not in ("0", "false", "no")
        return self.truth.snapshot(request_id=request_id, tokens=with_tokens)

    def _models(self) -> bytes:
        model = self.config.model
        return orjson.dumps(
            {
                "object": "list",
                "data": [
                    {
                        "id": model,
                        "object": "model",
                        "created": self.created,
                        "owned_by": "servebench",
                        "root": model,
                        "parent": None,
                        "max_model_len": self.config.max_model_len,
                    }
                ],
            }
        )


def request_id_source() -> Callable[[], str]:
    """Generated request ids: `sim-<process tag>-<counter>` (unique per server process)."""
    tag = os.urandom(4).hex()
    counter = itertools.count(1)
    return lambda: f"sim-{tag}-{next(counter)}"


async def serve(config: SimConfig, ready: Callable[[int], None] | None = None) -> None:
    """Run the server until SIGINT/SIGTERM; `ready(port)` is called once it listens."""
    loop = asyncio.get_running_loop()
    app = SimApp(config)
    timer = DeadlineTimer(loop)
    ids = request_id_source()
    server = await loop.create_server(
        lambda: Connection(app.handle, timer, ids),
        config.host,
        config.port,
        backlog=4096,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    port = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(port)
    try:
        await stop.wait()
    finally:
        server.close()
        timer.close()
        app.truth.close()


def run(config: SimConfig) -> None:
    """Start the event loop (uvloop when installed) and serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(port: int) -> None:
        mode = "fast" if config.fast else f"ttft {config.ttft_ms} ms, itl {config.itl_ms} ms"
        print(
            f"sim-server: serving {config.model!r} on http://{config.host}:{port} ({mode})",
            file=sys.stderr,
            flush=True,
        )

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(config, ready))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(config, ready))
