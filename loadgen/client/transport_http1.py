"""A lean HTTP/1.1 transport on `asyncio.Protocol`, built to time streamed responses exactly and cheaply.

Why not httpx: see docs/benchmarks.md ("Load generator"). Per response chunk httpx runs several
layers of generators and a per-chunk coroutine hand-off; here the bytes are stamped with
`perf_counter_ns()` first thing in `data_received` and handed, with that stamp, to the request's
`ResponseRecorder` in the same callback: a read that starts at a chunk boundary goes to
`on_chunked`, which reads the whole one-event chunks in place; the rest is de-chunked here and goes
to `on_body`. The request's coroutine wakes once, when the response is complete. This module frames
HTTP; what the bytes mean (content events, stamps, errors in the stream) is the recorder's.

Scope: `http://` only, keep-alive connections in a pool that is never capped below the load's
concurrency, request line + headers + body sent in one `write` (`request.http1_request`),
`Content-Length`, chunked and read-until-close bodies. Time limits (`deadline`) are checked by one
lazily re-armed timer per request, so a long stream costs no timer work per token.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from time import perf_counter_ns
from typing import cast

from loadgen import errors
from loadgen.client.deadline import next_deadline, timeout_message
from loadgen.client.recorder import ResponseRecorder
from loadgen.run_config import Timeouts

_HEAD_LIMIT = 64 * 1024
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _UNTIL_CLOSE, _IDLE = range(8)


UNSENT = "the connection closed before the request was sent"


class TransportError(Exception):
    """A connection could not be opened or failed before any response byte."""


class _Exchange:
    """One request on one connection: its recorder, its completion future, its timeout timer."""

    __slots__ = ("recorder", "future", "timer", "timeouts", "got_bytes")

    def __init__(self, recorder: ResponseRecorder, future: asyncio.Future[None], timeouts: Timeouts) -> None:
        self.recorder = recorder
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.timeouts = timeouts
        self.got_bytes = False


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; parses responses inside `data_received`."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False
        self._ex: _Exchange | None = None
        self._state = _IDLE
        self._buf = b""
        self._head_ns = 0
        self._remaining = 0
        self._keep_alive = True

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; small writes go out at once (TCP_NODELAY)."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        """Stamp the bytes first, then parse them (see the module docstring)."""
        now = perf_counter_ns()
        ex = self._ex
        if ex is None:  # bytes nobody asked for: the connection is not trustworthy any more
            self._close()
            return
        state = self._state
        if state == _CHUNK_SIZE and not self._buf:
            # The usual streamed read: whole chunks, each holding one whole `data: ...` event, that
            # the recorder reads in place; the first piece that is anything else, and all after it,
            # are de-chunked here.
            recorder = ex.recorder
            pos = recorder.on_chunked(data, now)
            if pos < len(data):
                self._dechunk(data[pos:] if pos else data, now, recorder)
            return
        if state == _HEAD:
            ex.got_bytes = True
            if not self._buf:
                self._head_ns = now
            data = self._buf + data if self._buf else data
            self._buf = b""
            body = self._parse_head(data, ex)
            if body is None:
                return
            data = body
            state = self._state
        recorder = ex.recorder
        if state == _LENGTH:
            take = self._remaining
            if len(data) < take:
                self._remaining -= len(data)
                recorder.on_body(data, now)
                return
            recorder.on_body(data[:take] if len(data) > take else data, now)
            self._complete(now)
        elif state == _UNTIL_CLOSE:
            recorder.on_body(data, now)
        elif state != _IDLE:
            self._dechunk(data, now, recorder)
        else:
            recorder.last_ns = now

    def eof_received(self) -> bool | None:
        """Let the transport close; `connection_lost` decides what the end means."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """End a read-until-close body, or classify the loss of a response in progress."""
        self.closed = True
        self._pool.forget(self)
        ex = self._ex
        if ex is None:
            return
        now = perf_counter_ns()
        if self._state == _UNTIL_CLOSE:
            self._complete(now)
        elif self._state == _HEAD and not ex.got_bytes:
            self._fail(
                errors.STREAM_CUT, "the connection closed before any response byte", now, retryable=True
            )
        else:
            self._fail(errors.STREAM_CUT, f"the connection closed mid-response ({exc or 'EOF'})", now)

    # -- requests ---------------------------------------------------------------------------------
    def start(self, payload: bytes, ex: _Exchange) -> None:
        """Send one request (headers and body in one write) and arm its timeout timer."""
        assert self.transport is not None
        self._ex = ex
        self._state = _HEAD
        self._buf = b""
        self.used = True
        now = perf_counter_ns()
        ex.recorder.on_send(now)
        # A connection the peer or our side closed under us (its server died) but whose
        # `connection_lost` has not run yet: the request never left, so it may be retried; uvloop
        # raises RuntimeError for a write on a closed handle rather than reporting the loss.
        if self.transport.is_closing():
            self._fail(errors.STREAM_CUT, UNSENT, now, retryable=True)
            return
        try:
            self.transport.write(payload)
        except (RuntimeError, OSError) as exc:
            self._fail(errors.STREAM_CUT, f"{UNSENT} ({exc})", now, retryable=True)
            return
        self._arm(ex, now)

    def abort(self) -> None:
        """Drop the connection (cancelled request)."""
        ex, self._ex = self._ex, None
        if ex is not None and ex.timer is not None:
            ex.timer.cancel()
        self._close()

    # -- response head ----------------------------------------------------------------------------
    def _parse_head(self, data: bytes, ex: _Exchange) -> bytes | None:
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > _HEAD_LIMIT:
                    self._fail(errors.STREAM_CUT, "response head too large", perf_counter_ns())
                    return None
                self._buf = data
                return None
            lines = data[:end].decode("latin-1").split("\r\n")
            data = data[end + 4 :]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                self._fail(
                    errors.STREAM_CUT, f"not an HTTP/1.x response: {lines[0][:100]!r}", perf_counter_ns()
                )
                return None
            status = int(parts[1])
            if 100 <= status < 200:  # interim response (100 Continue): the real head follows
                continue
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._keep_alive = parts[0] == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
            ex.recorder.on_status(status, self._head_ns)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._state = _CHUNK_SIZE
            elif "content-length" in headers:
                self._remaining = int(headers["content-length"])
                self._state = _LENGTH
                if self._remaining == 0 or status in (204, 304):
                    self._complete(perf_counter_ns())
                    return None
            elif status in (204, 304):
                self._complete(perf_counter_ns())
                return None
            else:
                self._state = _UNTIL_CLOSE
                self._keep_alive = False
            if not data:
                return None
            return data

    # -- chunked transfer coding ------------------------------------------------------------------
    def _dechunk(self, data: bytes, now: int, recorder: ResponseRecorder) -> None:
        if self._buf:
            data = self._buf + data
            self._buf = b""
        pos, size = 0, len(data)
        while pos < size:
            state = self._state
            if state == _CHUNK_DATA:
                take = min(self._remaining, size - pos)
                recorder.on_body(data[pos : pos + take] if (pos or take < size) else data, now)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_CRLF
            elif state == _CHUNK_SIZE or state == _TRAILER or state == _CHUNK_CRLF:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._buf = data[pos:]
                    return
                line = data[pos:eol]
                pos = eol + 2
                if state == _CHUNK_CRLF:
                    if line:
                        self._fail(errors.STREAM_CUT, "bad chunked encoding", now)
                        return
                    self._state = _CHUNK_SIZE
                elif state == _TRAILER:
                    if not line:
                        self._complete(now)
                        return
                else:
                    try:
                        length = int(line.split(b";", 1)[0], 16)
                        if length < 0:
                            raise ValueError(line)
                    except ValueError:
                        self._fail(errors.STREAM_CUT, f"bad chunk size line {line[:40]!r}", now)
                        return
                    end = pos + length
                    if length and end + 2 <= size and data[end : end + 2] == b"\r\n":
                        # the common case: the whole chunk is here; hand it over in one piece
                        recorder.on_body(data[pos:end], now)
                        pos = end + 2
                        continue
                    self._remaining = length
                    self._state = _CHUNK_DATA if length else _TRAILER
            else:  # bytes after the end of the response
                return

    # -- endings ----------------------------------------------------------------------------------
    def _complete(self, now: int) -> None:
        ex = self._ex
        self._ex = None
        self._state = _IDLE
        self._buf = b""
        if ex is None:
            return
        if ex.timer is not None:
            ex.timer.cancel()
        ex.recorder.finish(now)
        if not ex.future.done():
            ex.future.set_result(None)
        if self._keep_alive and not self.closed:
            self._pool.release(self)
        else:
            self._close()

    def _fail(self, error_class: str, message: str, now: int, *, retryable: bool = False) -> None:
        ex = self._ex
        self._ex = None
        self._state = _IDLE
        if ex is None:
            return
        if ex.timer is not None:
            ex.timer.cancel()
        if retryable and not ex.future.done():
            ex.future.set_exception(TransportError(message))
        else:
            ex.recorder.fail(error_class, message, now)
            if not ex.future.done():
                ex.future.set_result(None)
        self._close()

    def _close(self) -> None:
        self.closed = True
        self._pool.forget(self)
        if self.transport is not None:
            self.transport.abort()

    # -- timeouts ---------------------------------------------------------------------------------
    def _arm(self, ex: _Exchange, now: int) -> None:
        deadline = next_deadline(ex.timeouts, ex.recorder)
        if deadline is None:
            return
        loop = self._pool.loop
        ex.timer = loop.call_later(max(0.0, (deadline[0] - now) / 1e9), self._on_timer, ex)

    def _on_timer(self, ex: _Exchange) -> None:
        if ex is not self._ex:
            return
        now = perf_counter_ns()
        deadline = next_deadline(ex.timeouts, ex.recorder)
        if deadline is None:
            return
        if now >= deadline[0]:
            self._fail(errors.TIMEOUT, timeout_message(ex.timeouts, deadline[1]), now)
        else:
            ex.timer = self._pool.loop.call_later((deadline[0] - now) / 1e9, self._on_timer, ex)


class ConnectionPool:
    """Keep-alive connections to one host:port; opens more on demand, never refuses one."""

    def __init__(self, host: str, port: int, connect_timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._host = host
        self._port = port
        self._connect_timeout_s = connect_timeout_s
        self._idle: deque[_Connection] = deque()
        self._all: set[_Connection] = set()

    @property
    def size(self) -> int:
        """Open connections, busy or idle."""
        return len(self._all)

    async def open_one(self) -> _Connection:
        """Open a new connection (raises `TransportError` on failure or timeout)."""
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: _Connection(self), self._host, self._port),
                self._connect_timeout_s,
            )
        except TimeoutError as exc:
            raise TransportError(f"connect to {self._host}:{self._port} timed out") from exc
        except OSError as exc:
            raise TransportError(
                f"cannot connect to {self._host}:{self._port}: {exc.strerror or exc}"
            ) from exc
        self._all.add(conn)
        return conn

    async def preopen(self, count: int, batch: int = 64) -> None:
        """Open idle connections until `count` exist (in batches, so the server's backlog copes)."""
        while self.size < count:
            n = min(batch, count - self.size)
            opened = await asyncio.gather(*(self.open_one() for _ in range(n)), return_exceptions=True)
            failure: BaseException | None = None
            for conn in opened:
                if isinstance(conn, _Connection):
                    self._idle.append(conn)
                else:
                    failure = conn
            if failure is not None:
                raise failure

    async def acquire(self) -> tuple[_Connection, bool]:
        """An idle open connection, or a new one; the flag says whether it was reused."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, conn.used
        return await self.open_one(), False

    def release(self, conn: _Connection) -> None:
        """Give a connection whose response completed back to the pool."""
        self._idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        """Drop a closed connection."""
        self._all.discard(conn)

    def close(self) -> None:
        """Close every connection."""
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()


async def exchange(
    pool: ConnectionPool, payload: bytes, recorder: ResponseRecorder, timeouts: Timeouts
) -> None:
    """Send `payload` on a pooled connection and fill `recorder` until the response ends.

    Never raises for a failed request (the recorder gets the error class), except `CancelledError`,
    after which the connection is dropped and the recorder left for the caller to mark cancelled.
    A request that meets a keep-alive connection the server had just closed is retried once.
    """
    loop = pool.loop
    for attempt in (0, 1):
        try:
            conn, reused = await pool.acquire()
        except TransportError as exc:
            recorder.on_send(perf_counter_ns())
            recorder.fail(errors.CONNECT_ERROR, str(exc), perf_counter_ns())
            return
        ex = _Exchange(recorder, loop.create_future(), timeouts)
        conn.start(payload, ex)
        try:
            await ex.future
            return
        except TransportError as exc:
            if attempt == 0 and reused:
                continue
            recorder.fail(errors.STREAM_CUT, str(exc), perf_counter_ns())
            return
        except asyncio.CancelledError:
            conn.abort()
            raise
