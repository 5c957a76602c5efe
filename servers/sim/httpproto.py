"""A lean HTTP/1.1 server protocol (asyncio + httptools) with direct control of the socket.

The scripted server needs what a framework hides: the exact moment a request's last byte arrived,
the exact moment each event is handed to the transport, several events per write, a connection cut
without a chunked terminator, headers sent and then silence, and knowing at once that a client has
gone. So each connection is an `asyncio.Protocol`; requests are parsed by httptools and served one
after another (keep-alive and pipelining), each through an `Exchange` that writes bytes directly.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from time import perf_counter_ns
from typing import cast

import httptools

from servers.sim.timer import DeadlineTimer

log = logging.getLogger("servers.sim")

MAX_BODY_BYTES = 16 * 1024 * 1024
JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"


@dataclass(slots=True)
class Request:
    """One parsed request; `received_ns` is when its last byte (headers and body) had arrived."""

    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]
    body: bytes
    received_ns: int
    keep_alive: bool
    too_large: bool = False
    started_ns: int = 0
    """When serving began: `received_ns`, or later for a request pipelined behind another."""

    def header(self, name: bytes) -> str | None:
        """A header's value (lower-case `name`), decoded, or None."""
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


Handler = Callable[[Request, "Exchange"], Awaitable[None]]


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())


class Exchange:
    """Writes the response to one request straight to the connection's transport."""

    __slots__ = ("conn", "request", "request_id", "started", "complete")

    def __init__(self, conn: Connection, request: Request, request_id: str) -> None:
        self.conn = conn
        self.request = request
        self.request_id = request_id
        self.started = False
        self.complete = False

    @property
    def gone(self) -> bool:
        """True once the client's connection is lost."""
        return self.conn.closed

    def _head(self, status: int, content_type: bytes, framing: bytes) -> bytes:
        close = b"" if self.request.keep_alive else b"connection: close\r\n"
        return (
            _status_line(status)
            + b"content-type: "
            + content_type
            + b"\r\n"
            + framing
            + b"x-request-id: "
            + self.request_id.encode("latin-1", "replace")
            + b"\r\n"
            + close
            + b"\r\n"
        )

    def respond(self, status: int, body: bytes, content_type: bytes = JSON) -> None:
        """Send a whole response (headers and body in one write)."""
        if self.conn.closed:
            return
        self.started = self.complete = True
        head = self._head(status, content_type, b"content-length: %d\r\n" % len(body))
        self.conn.transport.write(head + body)

    def start_stream(self, status: int = 200, content_type: bytes = SSE) -> None:
        """Send the headers of a chunked response."""
        self.started = True
        if not self.conn.closed:
            self.conn.transport.write(self._head(status, content_type, b"transfer-encoding: chunked\r\n"))

    def start_fixed(self, status: int, length: int, content_type: bytes = JSON) -> None:
        """Send the headers of a response of `length` bytes (its body follows with `write`)."""
        self.started = True
        if not self.conn.closed:
            self.conn.transport.write(self._head(status, content_type, b"content-length: %d\r\n" % length))

    def write(self, data: bytes) -> None:
        """Hand bytes (already framed) to the transport."""
        if not self.conn.closed:
            self.conn.transport.write(data)

    def finish(self, data: bytes = b"") -> None:
        """Write the last bytes and mark the response complete."""
        self.complete = True
        if data and not self.conn.closed:
            self.conn.transport.write(data)

    def cut(self) -> None:
        """Close the connection now (buffered bytes are flushed first), leaving the response unfinished."""
        self.conn.close()

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        await self.conn.drain()

    async def wait_until(self, deadline_ns: int) -> bool:
        """Wait until `deadline_ns` (perf_counter_ns); False if the client went away meanwhile."""
        conn = self.conn
        timer = conn.timer
        while not conn.closed:
            if perf_counter_ns() >= deadline_ns:
                return True
            future = timer.wait(deadline_ns)
            conn.waiter = future
            try:
                await future
            finally:
                conn.waiter = None
        return False

    async def wait_for(self, future: asyncio.Future[bool | None]) -> bool | None:
        """Await `future`, which is completed with None if the client goes away first."""
        self.conn.waiter = future
        try:
            return await future
        finally:
            self.conn.waiter = None


class Connection(asyncio.Protocol):
    """One client connection: parses requests and serves them in order."""

    def __init__(self, handler: Handler, timer: DeadlineTimer, request_ids: Callable[[], str]) -> None:
        self.handler = handler
        self.timer = timer
        self.request_ids = request_ids
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.lost_ns = 0
        self.waiter: asyncio.Future[None] | asyncio.Future[bool | None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self.paused = False
        self._pending: deque[Request] = deque()
        self._serving = False
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._body_size = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        if self.closed:
            return
        self.closed = True
        self.lost_ns = perf_counter_ns()
        for future in (self.waiter, self._drain):
            if future is not None and not future.done():
                future.set_result(None)

    def pause_writing(self) -> None:  # noqa: D102
        self.paused = True

    def resume_writing(self) -> None:  # noqa: D102
        self.paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def data_received(self, data: bytes) -> None:  # noqa: D102
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(b"protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._reject(b"invalid HTTP request: " + str(exc).encode("ascii", "replace"))

    def close(self) -> None:
        """Close the connection (once its buffered bytes are written)."""
        if not self.closed:
            self.transport.close()
            self.connection_lost(None)

    async def drain(self) -> None:
        """Wait until the write buffer is below its low-water mark (or the client is gone)."""
        if self.paused and not self.closed:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def _reject(self, message: bytes) -> None:
        if not self.closed:
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%b" % (len(message), message)
            )
            self.close()

    # httptools callbacks
    def on_message_begin(self) -> None:  # noqa: D102
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:  # noqa: D102
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:  # noqa: D102
        if self._headers.get(b"expect", b"").lower() == b"100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self._body_size += len(body)
        if self._body_size <= MAX_BODY_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:  # noqa: D102
        received_ns = perf_counter_ns()
        url = httptools.parse_url(self._url)
        request = Request(
            method=self.parser.get_method().decode("ascii", "replace"),
            path=url.path.decode("latin-1"),
            query=url.query or b"",
            headers=self._headers,
            body=b"".join(self._body),
            received_ns=received_ns,
            keep_alive=self.parser.should_keep_alive(),
            too_large=self._body_size > MAX_BODY_BYTES,
            started_ns=received_ns,
        )
        if self._serving:
            request.started_ns = -1
        self._pending.append(request)
        if not self._serving:
            self._serving = True
            asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        try:
            while self._pending and not self.closed:
                request = self._pending.popleft()
                if request.started_ns == -1:  # it waited for the requests before it on this connection
                    request.started_ns = perf_counter_ns()
                request_id = request.header(b"x-request-id") or self.request_ids()
                exchange = Exchange(self, request, request_id)
                try:
                    await self.handler(request, exchange)
                except Exception:
                    log.exception("error while serving %s %s", request.method, request.path)
                    if not exchange.started:
                        exchange.respond(
                            500,
                            b'{"error":{"message":"internal error","type":'
                            b'"InternalServerError","param":null,"code":500}}',
                        )
                    else:
                        self.close()
                if not exchange.complete or not request.keep_alive:
                    self.close()
        finally:
            self._serving = False
