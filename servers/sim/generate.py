"""Serve one generation request: validate it, apply its fault, wait for a slot, send the tokens on
their schedule, and record what really happened.

Token i is due at `first_token_deadline + sum of the i inter-token delays` (absolute deadlines), so
a late wake-up never shifts later tokens. With `--itl-ms 0` ("fast mode") tokens go out as fast as
the loop can write them, `--events-per-write` events per transport write.
"""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from time import perf_counter_ns

from servers.sim.admission import Slots
from servers.sim.config import FAULT_KINDS, SimConfig
from servers.sim.errors import ApiError, error_body
from servers.sim.httpproto import Exchange, Request
from servers.sim.metrics import SimMetrics
from servers.sim.pacing import Pacer
from servers.sim.params import Api, GenerationParams, parse_generation
from servers.sim.pump import TokenPump
from servers.sim.truth import DISCONNECTED, ERROR, FAULT, OK, TruthRecord, TruthStore
from servers.sim.wire import (
    CHUNKED_END,
    DONE_EVENT,
    MALFORMED_EVENT,
    StreamWire,
    error_event,
    frame,
    full_body,
)

HTTP_FAULTS: dict[str, int] = {"http_500": 500, "http_429": 429, "http_400": 400}
MID_STREAM_FAULTS = frozenset({"inband_error", "malformed_sse", "cut_stream"})
FAULT_HEADER = b"x-sim-fault"
_FAULT_MESSAGES = {
    500: "sim-server: injected internal server error",
    429: "sim-server: injected rate limit",
    400: "sim-server: injected bad request",
}


class Generator:
    """Runs generation requests against the shared pacing, admission, metrics and truth."""

    def __init__(
        self, config: SimConfig, pacer: Pacer, admission: Slots, metrics: SimMetrics, truth: TruthStore
    ) -> None:
        self.config = config
        self.pacer = pacer
        self.admission = admission
        self.metrics = metrics
        self.truth = truth
        self._count = 0

    async def serve(self, api: Api, request: Request, ex: Exchange) -> None:
        """Answer one POST to /v1/completions or /v1/chat/completions."""
        record = TruthRecord(request_id=ex.request_id, received_ns=request.received_ns, api=api)
        try:
            if request.too_large:
                raise ApiError(413, "request body is too large")
            forced = self._fault_header(request)
            params = parse_generation(api, request.body, self.config)
        except ApiError as err:
            ex.respond(err.status, err.body())
            record.status, record.http_status = ERROR, err.status
            self._finish(record)
            return
        record.stream = params.stream
        record.prompt_tokens = params.prompt_tokens
        record.fault = fault = forced or self._scheduled_fault()
        if fault in HTTP_FAULTS:
            status = HTTP_FAULTS[fault]
            ex.respond(status, error_body(status, _FAULT_MESSAGES[status]))
            record.status, record.http_status = FAULT, status
            self._finish(record)
            return
        start_ns = request.started_ns
        record.pipeline_ns = start_ns - request.received_ns
        if fault == "slow_headers":
            if not await ex.wait_until(perf_counter_ns() + self._hang_ns):
                self._finish(_gone(record, ex))
                return
            start_ns = perf_counter_ns()
        if params.stream:
            ex.start_stream()
        queue_ns = await self.admission.enter(ex)
        if queue_ns is None:
            self._finish(_gone(record, ex))
            return
        record.queue_ns = queue_ns
        if queue_ns:
            start_ns = perf_counter_ns()
        self.metrics.queue.observe_ns(queue_ns)
        try:
            if params.stream:
                await self._stream(params, ex, record, fault, start_ns)
            else:
                await self._whole(params, ex, record, fault, start_ns)
        finally:
            # A static batch's step count is its longest member's stream, one token per choice a step.
            self.admission.leave(record.output_tokens // max(params.choices, 1))
        self._finish(record)

    @property
    def _hang_ns(self) -> int:
        return int(self.config.hang_s * 1e9)

    def _fault_header(self, request: Request) -> str | None:
        value = request.header(FAULT_HEADER)
        if value is None or value == "" or value == "none":
            return None
        if value not in FAULT_KINDS:
            known = ", ".join(FAULT_KINDS)
            raise ApiError(400, f"unknown X-Sim-Fault {value!r}; known: {known}", "X-Sim-Fault")
        return value

    def _scheduled_fault(self) -> str | None:
        config = self.config
        if config.fault is None:
            return None
        self._count += 1
        return config.fault if self._count % max(config.fault_every, 1) == 0 else None

    async def _stream(
        self, params: GenerationParams, ex: Exchange, record: TruthRecord, fault: str | None, start: int
    ) -> None:
        """Stream the tokens; `start` is when the request was admitted (TTFT counts from it)."""
        config, pacer, admission = self.config, self.pacer, self.admission
        n = params.output_tokens
        response_id = _response_id(params.api, ex.request_id)
        wire = StreamWire(params.api, response_id, int(time.time()), config.model, n, params.choices)
        conn = ex.conn
        transport = conn.transport
        stamps = record.token_ns
        if fault == "no_tokens":
            await self._hang_then_cut(ex, record, start)
            return
        if params.api == "chat":
            ex.write(frame(wire.role()))
        faulty = fault in MID_STREAM_FAULTS
        stop = min(config.fault_after, n) if faulty else n
        last = -1 if faulty else n - 1  # the token whose chunk ends the stream (none if a fault does)
        usage = wire.usage(params.prompt_tokens, n * params.choices) if params.include_usage else b""
        ending = usage + DONE_EVENT
        deadline = start + pacer.ttft_ns(admission.running)
        complete = False
        if config.fast:
            if await ex.wait_until(deadline):
                step = config.events_per_write
                i = 0
                while i < stop and not conn.closed:
                    j = min(i + step, stop)
                    if j - 1 == last:
                        body = wire.tokens(i, j - 1) if j - 1 > i else b""
                        body += wire.last_token(j - 1, params.finish_reason)
                        data = frame(body + ending) + CHUNKED_END
                        complete = True
                    else:
                        data = frame(wire.tokens(i, j))
                    now = perf_counter_ns()
                    transport.write(data)
                    stamps.extend([now] * (j - i))
                    i = j
                    if complete:
                        break
                    if conn.paused:
                        await conn.drain()
                    else:
                        await asyncio.sleep(0)
        elif stop:
            pump = TokenPump(ex, wire, pacer, admission, stamps, stop, last, params.finish_reason, ending)
            pump.start(deadline)
            await ex.wait_for(pump.done)
            complete = pump.complete
        else:
            await ex.wait_until(deadline)  # a fault before the first token comes when it would have
        record.output_tokens = len(stamps) * params.choices
        record.first_token_ns = stamps[0] if stamps else None
        if complete:  # the last token's write also carried the rest of the response
            ex.finish()
            record.finish_reason = params.finish_reason
            record.end_ns = stamps[-1]
        elif conn.closed:
            _gone(record, ex)
        else:
            record.status, record.end_ns = FAULT, perf_counter_ns()
            self._break_stream(ex, fault)

    async def _hang_then_cut(self, ex: Exchange, record: TruthRecord, start: int) -> None:
        """The `no_tokens` fault once the headers are out: nothing until the hang time, then a cut."""
        if await ex.wait_until(start + self._hang_ns):
            record.status, record.end_ns = FAULT, perf_counter_ns()
            ex.cut()
        else:
            _gone(record, ex)

    @staticmethod
    def _break_stream(ex: Exchange, fault: str | None) -> None:
        if fault == "inband_error":
            event = error_event(500, "sim-server: injected in-band error")
            ex.finish(frame(event + DONE_EVENT) + CHUNKED_END)
        elif fault == "malformed_sse":
            ex.finish(frame(MALFORMED_EVENT + DONE_EVENT) + CHUNKED_END)
        else:
            ex.cut()

    async def _whole(
        self, params: GenerationParams, ex: Exchange, record: TruthRecord, fault: str | None, start: int
    ) -> None:
        """Wait out the whole schedule, then send one body."""
        config, pacer, admission = self.config, self.pacer, self.admission
        n = params.output_tokens
        body = full_body(
            params.api,
            _response_id(params.api, ex.request_id),
            int(time.time()),
            config.model,
            params.prompt_tokens,
            n,
            params.finish_reason,
            params.choices,
        )
        if fault == "no_tokens":
            ex.start_fixed(200, len(body))
            await self._hang_then_cut(ex, record, start)
            return
        stamps = record.token_ns
        deadline = start + pacer.ttft_ns(admission.running)
        for i in range(n):
            if i and not config.fast:
                deadline += pacer.itl_ns(admission.running)
            if not await ex.wait_until(deadline):
                _gone(record, ex)
                return
            stamps.append(perf_counter_ns())
        record.output_tokens = n * params.choices
        record.first_token_ns = stamps[0]
        record.end_ns = perf_counter_ns()  # the body is handed over next
        if fault == "inband_error":
            ex.respond(200, error_body(500, "sim-server: injected error in a 200 response"))
        elif fault == "malformed_sse":
            ex.respond(200, b"{this is not JSON")
        elif fault == "cut_stream":
            ex.start_fixed(200, len(body))
            ex.write(body[: len(body) // 2])
            ex.cut()
        else:
            ex.respond(200, body)
            record.finish_reason = params.finish_reason
        if fault in MID_STREAM_FAULTS:
            record.status = FAULT

    def _finish(self, record: TruthRecord) -> None:
        metrics = self.metrics
        if record.end_ns == 0:
            record.end_ns = perf_counter_ns()
        stamps = record.token_ns
        if stamps:
            metrics.generation_tokens += max(record.output_tokens, len(stamps))
            metrics.ttft.observe_ns(stamps[0] - record.received_ns)
            if len(stamps) > 1:
                metrics.itl.observe_many_ns(b - a for a, b in pairwise(stamps))
        if record.status == OK:
            metrics.prompt_tokens += record.prompt_tokens
            metrics.success[record.finish_reason or "stop"] += 1
            metrics.e2e.observe_ns(record.end_ns - record.received_ns)
        elif record.status == DISCONNECTED:
            metrics.success["abort"] += 1
        elif record.status == FAULT:
            metrics.success["error"] += 1
        self.truth.add(record)


def _gone(record: TruthRecord, ex: Exchange) -> TruthRecord:
    record.status = DISCONNECTED
    record.output_tokens = len(record.token_ns)
    record.first_token_ns = record.token_ns[0] if record.token_ns else None
    record.end_ns = ex.conn.lost_ns or perf_counter_ns()
    return record


def _response_id(api: Api, request_id: str) -> str:
    return ("cmpl-" if api == "completions" else "chatcmpl-") + request_id
