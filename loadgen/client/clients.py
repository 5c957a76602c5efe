"""The client interface the runner uses: open connections up front, send one request, fill its record.

`make_client` picks the lean asyncio HTTP/1.1 client (`fast`, http:// only, over `transport_http1`)
or httpx (`httpx`, and always for https://, over `transport_httpx`). Both fill a `RequestRecord` in
place through the same `ResponseRecorder`, so their records mean the same thing.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import urlsplit

from loadgen.client.recorder import ResponseRecorder
from loadgen.client.request import encode_body, http1_request, request_body, request_headers
from loadgen.client.tokens import TokenCounter
from loadgen.client.transport_http1 import ConnectionPool, exchange
from loadgen.errors import ConfigError
from loadgen.record import RequestRecord
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt


class Client(Protocol):
    """Sends requests to one target."""

    async def preopen(self, count: int) -> None:
        """Open connections until `count` exist (before the measured window)."""
        ...

    async def send(self, prompt: Prompt, record: RequestRecord) -> None:
        """Send `prompt` and fill `record` (ids and schedule set by the caller) until it ends.

        A failed request is recorded, not raised. On cancellation the record keeps what arrived and
        `CancelledError` propagates; the caller marks it cancelled.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


class Http1Client:
    """`Client` over `transport_http1` (the default for http:// targets)."""

    def __init__(self, target: Target, options: RequestOptions, counter: TokenCounter | None = None) -> None:
        parts = urlsplit(target.base_url)
        if parts.scheme != "http":
            raise ConfigError("the fast client speaks http:// only; use --client httpx for https://")
        self._target, self._options, self._counter = target, options, counter
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = target.endpoint_path(options.api)
        self._host_header = parts.netloc
        self._pool: ConnectionPool | None = None

    def _get_pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = ConnectionPool(self._host, self._port, self._options.timeouts.connect_s)
        return self._pool

    async def preopen(self, count: int) -> None:
        """Open connections until `count` exist."""
        await self._get_pool().preopen(count)

    def payload(self, prompt: Prompt, request_id: str) -> bytes:
        """The whole request (request line, headers, body) as one bytes object."""
        body = encode_body(request_body(self._target, self._options, prompt))
        headers = request_headers(self._target, self._options, request_id)
        return http1_request(self._path, self._host_header, headers, body)

    async def send(self, prompt: Prompt, record: RequestRecord) -> None:
        """Send `prompt` and fill `record`."""
        payload = self.payload(prompt, record.request_id)
        recorder = ResponseRecorder(record, keep_text=self._options.save_text, counter=self._counter)
        await exchange(self._get_pool(), payload, recorder, self._options.timeouts)

    async def aclose(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            self._pool.close()


class HttpxClient:
    """`Client` over httpx (`--client httpx`, and https:// targets)."""

    def __init__(self, target: Target, options: RequestOptions, counter: TokenCounter | None = None) -> None:
        from loadgen.client.transport_httpx import make_httpx_client

        self._target, self._options, self._counter = target, options, counter
        self._url = urlsplit(target.base_url)._replace(path=target.endpoint_path(options.api)).geturl()
        self._client = make_httpx_client(options.timeouts)

    async def preopen(self, count: int) -> None:
        """Warm the pool with `count` concurrent cheap requests (httpx has no connect-only call)."""
        base = urlsplit(self._url)._replace(path="/health").geturl()

        async def one() -> None:
            try:
                await self._client.get(base)
            except Exception:  # noqa: BLE001 - warming is best effort; failures show in the run
                pass

        await asyncio.gather(*(one() for _ in range(count)))

    async def send(self, prompt: Prompt, record: RequestRecord) -> None:
        """Send `prompt` and fill `record`."""
        from loadgen.client.transport_httpx import httpx_exchange

        body = encode_body(request_body(self._target, self._options, prompt))
        headers = request_headers(self._target, self._options, record.request_id)
        recorder = ResponseRecorder(record, keep_text=self._options.save_text, counter=self._counter)
        await httpx_exchange(self._client, self._url, headers, body, recorder, self._options.timeouts)

    async def aclose(self) -> None:
        """Close every connection."""
        await self._client.aclose()


def make_client(target: Target, options: RequestOptions, counter: TokenCounter | None = None) -> Client:
    """The client `options.client` names (httpx for https:// targets whatever the choice)."""
    if options.client == "httpx" or urlsplit(target.base_url).scheme == "https":
        return HttpxClient(target, options, counter)
    return Http1Client(target, options, counter)
