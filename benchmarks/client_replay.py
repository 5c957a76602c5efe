"""Client replay: the Python cost per streamed event of the client's receive path, in process.

No sockets and no server: the bytes of one scripted-server-like response (head, 255 completion
chunks that differ only in their text, a finish chunk, a usage chunk, `[DONE]`, the last chunk) are
fed straight into the lean transport's `data_received` (`--per-read` chunks per call, as the kernel
hands several events to one read under load), and, de-chunked, into the recorder's `on_body` (what
the httpx and locust transports do). Each round replays `--responses` responses; the best round's
nanoseconds per event are reported (the least disturbed by other work on the machine). The figure
is the client's own parsing and stamping, without the event loop and the kernel, so it moves with a
change to that code and little else.

    python -m benchmarks.client_replay [--per-read 1,3,16] [--responses 200] [--rounds 7] [--core 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from time import perf_counter_ns
from typing import Any

import orjson

from loadgen.client.recorder import ResponseRecorder
from loadgen.client.transport_http1 import ConnectionPool, _Connection, _Exchange
from loadgen.record import RequestRecord
from loadgen.run_config import Timeouts

EVENTS = 256
TIMEOUTS = Timeouts()  # the defaults: every limit armed, as in a real run
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _event(payload: dict[str, Any] | None) -> bytes:
    return b"data: " + (orjson.dumps(payload) if payload is not None else b"[DONE]") + b"\n\n"


def _completion(text: str, reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": reason, "stop_reason": None}
    return {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "sim", "choices": [choice]}


def response_events() -> list[bytes]:
    """The SSE events of one response: `EVENTS` content events, then usage and `[DONE]`."""
    usage = {"prompt_tokens": 5, "completion_tokens": EVENTS, "total_tokens": EVENTS + 5}
    content = [_event(_completion(f" w{i % 50}")) for i in range(EVENTS - 1)]
    return [
        *content,
        _event(_completion(" end", "length")),
        _event({"choices": [], "usage": usage}),
        _event(None),
    ]


def _chunk(piece: bytes) -> bytes:
    return b"%x\r\n" % len(piece) + piece + b"\r\n"


class _Transport:
    """Swallows the request; the response is fed by hand."""

    def write(self, data: bytes) -> None:
        """Nothing goes anywhere."""

    def abort(self) -> None:
        """Nothing to close."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """No socket."""
        return default


def _record() -> RequestRecord:
    return RequestRecord(request_id="r", target="t", index=0, api="completions", stream=True, send_ns=0)


def _check(record: RequestRecord) -> None:
    if not record.ok or len(record.content_ns) != EVENTS:
        raise RuntimeError(f"replay misread: {record.error_class} {record.error_message}")


async def transport_ns_per_event(per_read: int, responses: int, rounds: int) -> float:
    """Best round's ns per event through `_Connection.data_received`, `per_read` chunks per read."""
    chunks = [_chunk(event) for event in response_events()] + [b"0\r\n\r\n"]
    reads = [b"".join(chunks[i : i + per_read]) for i in range(0, len(chunks), per_read)]
    pool = ConnectionPool("127.0.0.1", 9, 1.0)
    loop = asyncio.get_running_loop()
    best = float("inf")
    for _ in range(rounds):
        start = perf_counter_ns()
        for _ in range(responses):
            conn = _Connection(pool)
            conn.connection_made(_Transport())  # type: ignore[arg-type]
            record = _record()
            future: asyncio.Future[None] = loop.create_future()
            conn.start(
                b"", _Exchange(ResponseRecorder(record, keep_text=False, counter=None), future, TIMEOUTS)
            )
            conn.data_received(HEAD)
            for data in reads:
                conn.data_received(data)
            _check(record)
            if record.end_ns is None:
                raise RuntimeError("the response did not complete")
        best = min(best, (perf_counter_ns() - start) / (responses * EVENTS))
    return best


def recorder_ns_per_event(responses: int, rounds: int) -> float:
    """Best round's ns per event through `ResponseRecorder.on_body`, one event per call."""
    events = response_events()
    best = float("inf")
    for _ in range(rounds):
        start = perf_counter_ns()
        for _ in range(responses):
            record = _record()
            recorder = ResponseRecorder(record, keep_text=False, counter=None)
            recorder.on_status(200, 1)
            for i, event in enumerate(events):
                recorder.on_body(event, i + 2)
            recorder.finish(len(events) + 2)
            _check(record)
        best = min(best, (perf_counter_ns() - start) / (responses * EVENTS))
    return best


def main() -> None:
    """Parse options, pin, replay, print one line per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-read", default="1,3,16", help="Chunks per data_received call.")
    parser.add_argument("--responses", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--core", type=int, default=None, help="Pin to this core.")
    args = parser.parse_args()
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    for per_read in (int(x) for x in args.per_read.split(",")):
        ns = asyncio.run(transport_ns_per_event(per_read, args.responses, args.rounds))
        print(f"transport_http1, {per_read:>2} chunk(s) per read: {ns:,.0f} ns per event")
    ns = recorder_ns_per_event(args.responses, args.rounds)
    print(f"recorder.on_body, one event per call:  {ns:,.0f} ns per event")


if __name__ == "__main__":
    main()
