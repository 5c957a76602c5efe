"""A gevent HTTP/1.1 client for one locust user: sends a request, feeds bytes as they arrive.

locust runs users as greenlets, so this client is synchronous and blocks only in gevent sockets.
It reads with one `recv` per wake-up and hands every byte to the shared `ResponseRecorder` stamped
with `perf_counter_ns()` taken right after that `recv` returned: no buffered read waits for a block
to fill (locust's `FastHttpUser.iter_content()` waits for 1024 bytes, about five chat chunks; see
/work/shared/notes/measurement-pitfalls.md). The response head and the chunked transfer coding are
parsed by geventhttpclient's C parser (llhttp); connections come from its pool, so `https://` works
too. Request line, headers and body leave in one `sendall`.

Time limits: connect (the pool's), then time to first token, idle gap and total as
`loadgen.client.deadline` defines them, each making the request a `timeout` failure with the same
message as in the asyncio clients. A request that meets a keep-alive connection the server had just
closed is retried once on a new one, as the asyncio client does.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from time import perf_counter_ns
from urllib.parse import urlsplit

from gevent import GreenletExit
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.response import HTTPParseError, HTTPResponse

from loadgen import errors
from loadgen.client.deadline import next_deadline, timeout_message
from loadgen.client.recorder import ResponseRecorder
from loadgen.client.request import encode_body, http1_request, request_body, request_headers
from loadgen.record import RequestRecord
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt

RECV_SIZE = 64 * 1024


class _NoDelayPool(ConnectionPool):
    """geventhttpclient's pool, with Nagle off so a request is never held back."""

    def after_connect(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _NoDelaySSLPool(SSLConnectionPool):
    """The TLS pool, with Nagle off."""

    def after_connect(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ResponseParser(HTTPResponse):
    """llhttp response parser that keeps de-chunked body pieces for the caller to take."""

    def __init__(self) -> None:
        super().__init__(method="POST")
        self.pieces: list[bytes] = []

    def _on_body(self, buf: bytearray) -> None:
        self.pieces.append(bytes(buf))


class _Retry(Exception):
    """The reused connection was already closed by the server: send again on a new one."""


class GeventStreamClient:
    """Sends streamed completion requests to one target over one keep-alive connection."""

    def __init__(
        self, target: Target, options: RequestOptions, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urlsplit(target.base_url)
        secure = parts.scheme == "https"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        pool_type = _NoDelaySSLPool if secure else _NoDelayPool
        self._pool: ConnectionPool = pool_type(
            host,
            port,
            host,
            port,
            size=1,
            connection_timeout=options.timeouts.connect_s,
            network_timeout=options.timeouts.idle_s or 3600.0,  # each recv sets its own deadline
        )
        self._target = target
        self._options = options
        self._path = target.endpoint_path(options.api)
        self._host_header = parts.netloc
        self._warm = False
        self._extra_headers = dict(extra_headers or {})

    def payload(self, prompt: Prompt, request_id: str) -> bytes:
        """The whole request (request line, headers, body) as one bytes object."""
        body = encode_body(request_body(self._target, self._options, prompt))
        headers = request_headers(self._target, self._options, request_id)
        headers["User-Agent"] = "servebench-locust"
        headers.update(self._extra_headers)
        return http1_request(self._path, self._host_header, headers, body)

    def preopen(self) -> None:
        """Open the connection now, before the first request is timed (errors surface on that request)."""
        try:
            self._pool.return_socket(self._pool.get_socket())
        except OSError:
            return
        self._warm = True  # idle since: a first request that finds it closed is retried

    def send(self, prompt: Prompt, record: RequestRecord) -> None:
        """Send `prompt` and fill `record` until the response ends.

        A failed request is recorded (`record.error_class`), never raised. If the greenlet is killed
        (locust stopping the user), the record is marked `cancelled` and `GreenletExit` propagates.
        """
        payload = self.payload(prompt, record.request_id)
        recorder = ResponseRecorder(record, keep_text=self._options.save_text, counter=None)
        for attempt in (0, 1):
            reused, self._warm = self._warm, False
            try:
                sock = self._pool.get_socket()
            except (OSError, ValueError) as exc:
                recorder.on_send(perf_counter_ns())
                recorder.fail(
                    errors.CONNECT_ERROR, f"cannot connect to {self._host_header}: {exc}", perf_counter_ns()
                )
                return
            keep = False
            try:
                keep = self._exchange(sock, payload, recorder)
            except _Retry as exc:
                if attempt == 0 and reused:
                    continue
                recorder.fail(errors.STREAM_CUT, str(exc), perf_counter_ns())
            except GreenletExit:
                recorder.fail(errors.CANCELLED, "the user was stopped mid-request", perf_counter_ns())
                raise
            finally:
                if keep:
                    self._pool.return_socket(sock)
                    self._warm = True
                else:
                    self._pool.release_socket(sock)
            return

    def _exchange(self, sock: socket.socket, payload: bytes, recorder: ResponseRecorder) -> bool:
        """One request on one connection; True when the connection can carry another request.

        Raises `_Retry` when the connection failed before any response byte arrived.
        """
        recorder.on_send(perf_counter_ns())
        try:
            sock.sendall(payload)
        except OSError as exc:
            raise _Retry(f"the connection failed while sending: {exc}") from None
        parser = _ResponseParser()
        timeouts = self._options.timeouts
        first_ns = 0
        status_seen = False
        while True:
            deadline = next_deadline(timeouts, recorder)
            now = perf_counter_ns()
            if deadline is not None and now >= deadline[0]:
                recorder.fail(errors.TIMEOUT, timeout_message(timeouts, deadline[1]), now)
                return False
            sock.settimeout(None if deadline is None else (deadline[0] - now) / 1e9)
            try:
                data = sock.recv(RECV_SIZE)
            except TimeoutError:
                continue  # the loop re-checks the deadline and fails the request
            except OSError as exc:
                if not first_ns:
                    raise _Retry(f"the connection failed before any response byte: {exc}") from None
                recorder.fail(
                    errors.STREAM_CUT, f"the connection failed mid-response: {exc}", perf_counter_ns()
                )
                return False
            now = perf_counter_ns()
            recorder.last_ns = now
            if not data:
                return self._closed_by_server(parser, recorder, now, first_ns)
            if not first_ns:
                first_ns = now
            try:
                parser.feed(data)
            except HTTPParseError as exc:
                recorder.fail(errors.STREAM_CUT, f"invalid HTTP response: {exc}", now)
                return False
            if not status_seen and parser.headers_complete:
                status_seen = True
                recorder.on_status(parser.status_code, first_ns)
            if parser.pieces:
                for piece in parser.pieces:
                    recorder.on_body(piece, now)
                parser.pieces.clear()
            if parser.message_complete:
                recorder.finish(now)
                return bool(parser.should_keep_alive())

    @staticmethod
    def _closed_by_server(
        parser: _ResponseParser, recorder: ResponseRecorder, now: int, first_ns: int
    ) -> bool:
        """The server closed the connection: the end of a read-until-close body, or a cut."""
        if not first_ns:
            raise _Retry("the connection closed before any response byte")
        if parser.headers_complete:
            try:
                parser.feed(b"")  # tells llhttp the connection ended (completes a read-until-close body)
            except HTTPParseError:
                pass
            for piece in parser.pieces:
                recorder.on_body(piece, now)
            parser.pieces.clear()
        if parser.message_complete:
            recorder.finish(now)
        else:
            recorder.fail(errors.STREAM_CUT, "the connection closed mid-response", now)
        return False

    def close(self) -> None:
        """Close the connection."""
        self._pool.close()
