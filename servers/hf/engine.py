"""The generate loop in a process of its own (`--engine process`), so streaming cannot slow decoding.

In one process, the decoding thread and the event loop share the GIL: every streamed token's work
(queue hand-off, metrics, SSE chunk, socket write) is time the decoding thread cannot launch the next
step, and at 256 rows a step took 21-24 ms on an H200 against ~12.7 ms for `generate` alone. vLLM
splits its API server from its engine core for the same reason. Here the split is one seam: the
batcher, metrics, handlers and `/batches` stay in the HTTP process unchanged, and `RemoteRunner`, a
`BatchRunner`, sends each batch to the engine process and relays its step events back.

The engine process loads the model, runs the warm-up, and then runs batches one at a time with the
same `GenerateRunner`. Three threads there: the generate thread (main), a reader (batches, and
cancellations of rows whose client went away: their row stops at the next step, as in one process)
and a sender (step events leave through an unbounded queue, so a slow HTTP side never blocks a
decoding step). Timestamps are `perf_counter_ns` (CLOCK_MONOTONIC, one clock for every process).
If the engine dies, the batch in flight fails with a 500, later ones with a 503, and `/health` turns
503: the server is no longer serving.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import torch

from servers.hf.attention import AttentionChoice
from servers.hf.loading import LoadedModel, ModelLoadError, load_model, load_tokenizer
from servers.hf.request import Event, Failure, GenRequest
from servers.hf.runner import BatchOutcome, GenerateRunner
from servers.hf.settings import ServerSettings
from servers.hf.stepper import Publish
from servers.hf.warmup import WarmupReport, default_batch_sizes, warm_up

log = logging.getLogger("servers.hf")

STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What the HTTP side needs to know of the model the engine loaded."""

    device: str
    dtype: str
    eos_ids: frozenset[int]
    pad_token_id: int
    max_model_len: int
    attention: AttentionChoice
    vocab_size: int


def run_warmup(settings: ServerSettings, loaded: LoadedModel, runner: GenerateRunner) -> WarmupReport | None:
    """The start-up warm-up the settings ask for (servers/hf/warmup.py), or None."""
    sizes = settings.warmup_batch_sizes
    if sizes is None:
        sizes = default_batch_sizes(settings.batching.max_batch_size, loaded.device)
    return warm_up(runner, sizes, loaded.vocab_size, loaded.max_model_len) if sizes else None


def _engine_main(settings: ServerSettings, commands: Connection, events: Connection) -> None:
    """The engine process: load, warm up, then run the batches the HTTP process sends."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s.engine: %(message)s")
    try:
        loaded = load_model(settings)
        runner = GenerateRunner.for_model(loaded)
        warmup = run_warmup(settings, loaded, runner)
    except (ModelLoadError, RuntimeError, OSError, ValueError) as exc:
        events.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    serve_batches(loaded, runner, warmup, commands, events)


def serve_batches(
    loaded: LoadedModel,
    runner: GenerateRunner,
    warmup: WarmupReport | None,
    commands: Connection,
    events: Connection,
) -> None:
    """Report ready, then run the batches `commands` brings until the HTTP process stops or goes away.

    The engine process's loop after loading; `benchmarks.hf_http_ceiling` runs it over a paced
    stand-in for the model, to measure the HTTP side alone.
    """
    info = EngineInfo(
        str(loaded.device),
        str(loaded.dtype).removeprefix("torch."),
        loaded.eos_ids,
        loaded.pad_token_id,
        loaded.max_model_len,
        loaded.attention,
        loaded.vocab_size,
    )
    events.send(("ready", info, warmup))
    outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    jobs: queue.SimpleQueue[list[tuple[int, list[int], Any]] | None] = queue.SimpleQueue()
    live: dict[int, GenRequest] = {}

    def send_loop() -> None:
        while (message := outbox.get()) is not None:
            events.send(message)

    def read_loop() -> None:
        try:
            while True:
                message = commands.recv()
                if message[0] == "run":
                    jobs.put(message[1])
                elif message[0] == "cancel":
                    for request_id in message[1]:
                        request = live.get(request_id)
                        if request is not None:
                            request.cancelled = True
                else:
                    break
        except (EOFError, OSError):
            pass  # the HTTP process is gone
        jobs.put(None)

    sender = threading.Thread(target=send_loop, name="engine-send", daemon=True)
    reader = threading.Thread(target=read_loop, name="engine-read", daemon=True)
    sender.start()
    reader.start()

    def publish(step: list[tuple[GenRequest, Event]]) -> None:
        outbox.put(("steps", [(request.request_id, event) for request, event in step]))

    while (job := jobs.get()) is not None:
        batch = [GenRequest(ids, params, request_id=request_id) for request_id, ids, params in job]
        live.update((r.request_id, r) for r in batch)
        outcome = runner.run(batch, publish)
        live.clear()
        outbox.put(("done", outcome))
    outbox.put(None)
    sender.join(timeout=STOP_TIMEOUT_S)


EngineMain = Callable[[ServerSettings, Connection, Connection], None]
"""What the engine process runs: `_engine_main`, or a benchmark's stand-in (a module-level function,
so that the spawned process can import it)."""


class EngineStartError(RuntimeError):
    """The engine process could not load the model or died while starting."""


class RemoteRunner:
    """A `BatchRunner` whose `generate` calls run in the engine process."""

    def __init__(self, settings: ServerSettings, engine_main: EngineMain | None = None) -> None:
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        self._commands, engine_commands = context.Pipe(duplex=False)[::-1]
        engine_events, self._events = context.Pipe(duplex=False)[::-1]
        self._process = context.Process(
            target=engine_main or _engine_main,
            args=(settings, engine_commands, engine_events),
            name="hf-engine",
            daemon=True,
        )
        self._process.start()
        engine_commands.close()
        engine_events.close()
        try:
            message = self._events.recv()
        except (EOFError, OSError):
            self._process.join(timeout=5)
            raise EngineStartError(
                f"the engine process died while loading the model (exit code {self._process.exitcode})"
            ) from None
        if message[0] != "ready":
            self._process.join(timeout=5)
            raise EngineStartError(f"the engine process could not load the model: {message[1]}")
        self.info: EngineInfo = message[1]
        self.warmup: WarmupReport | None = message[2]
        self.alive = True

    @property
    def pid(self) -> int | None:
        """The engine process's id."""
        return self._process.pid

    def loaded_model(self, settings: ServerSettings) -> LoadedModel:
        """What the HTTP side serves from: the engine's model facts and a tokenizer of its own."""
        info = self.info
        return LoadedModel(
            model=None,
            tokenizer=load_tokenizer(settings.model_dir),
            device=torch.device(info.device),
            dtype=getattr(torch, info.dtype),
            eos_ids=info.eos_ids,
            pad_token_id=info.pad_token_id,
            max_model_len=info.max_model_len,
            attention=info.attention,
            vocab_size=info.vocab_size,
        )

    def _dead(self, batch: list[GenRequest], publish: Publish, steps: int) -> BatchOutcome:
        self.alive = False
        self._process.join(timeout=1)
        message = f"the generate engine process died (exit code {self._process.exitcode})"
        log.error("%s", message)
        publish([(request, Failure(500, message)) for request in batch])
        return BatchOutcome(steps, failed=message)

    def run(self, batch: list[GenRequest], publish: Publish) -> BatchOutcome:
        """Send `batch` to the engine and relay its step events until it is done; never raises."""
        if not self.alive:
            message = "the generate engine process is not running; the server cannot serve"
            publish([(request, Failure(503, message)) for request in batch])
            return BatchOutcome(0, failed=message)
        by_id = {request.request_id: request for request in batch}
        unfinished = dict(by_id)
        cancel_sent: set[int] = set()
        steps = 0
        try:
            self._commands.send(("run", [(r.request_id, r.prompt_ids, r.params) for r in batch]))
            while True:
                message = self._events.recv()
                if message[0] == "done":
                    outcome: BatchOutcome = message[1]
                    return outcome
                steps += 1
                step = [(by_id[request_id], event) for request_id, event in message[1]]
                for request, event in step:
                    if isinstance(event, Failure) or event.finish is not None:
                        unfinished.pop(request.request_id, None)
                publish(step)
                gone = [i for i, r in unfinished.items() if r.cancelled and i not in cancel_sent]
                if gone:
                    self._commands.send(("cancel", gone))
                    cancel_sent.update(gone)
        except (EOFError, OSError):
            return self._dead(list(unfinished.values()), publish, steps)

    def close(self) -> None:
        """Stop the engine process (it finishes no batch: the batcher has stopped sending)."""
        if self._process.is_alive():
            try:
                self._commands.send(("stop",))
            except OSError:
                pass
            self._process.join(timeout=STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self.alive = False
