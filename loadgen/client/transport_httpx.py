"""The same request through httpx (`--client httpx`): for https targets, and as the reference.

Less exact and more expensive per token than `client_http1` (docs/benchmarks.md says by how much):
each chunk is stamped after httpx's stream layers hand it over, and httpx (h11) writes request
headers and body in separate writes. The pool is never capped below the concurrency.
"""

from __future__ import annotations

import asyncio
from time import perf_counter_ns

import httpx

from loadgen import errors
from loadgen.client.recorder import ResponseRecorder
from loadgen.run_config import Timeouts


def make_httpx_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """An `AsyncClient` with no connection cap and httpx's own timeouts off (we enforce ours)."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=None),
        timeout=httpx.Timeout(None, connect=timeouts.connect_s),
    )


def _deadline_s(recorder: ResponseRecorder, timeouts: Timeouts) -> float | None:
    send = recorder.record.send_ns
    cands = []
    if timeouts.total_s is not None:
        cands.append(send + timeouts.total_s * 1e9)
    if timeouts.ttft_s is not None and not recorder.has_content:
        cands.append(send + timeouts.ttft_s * 1e9)
    if timeouts.idle_s is not None:
        cands.append(recorder.last_ns + timeouts.idle_s * 1e9)
    if not cands:
        return None
    loop = asyncio.get_running_loop()
    return loop.time() + (min(cands) - perf_counter_ns()) / 1e9


async def httpx_exchange(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    body: bytes,
    recorder: ResponseRecorder,
    timeouts: Timeouts,
) -> None:
    """Send one request with httpx and fill `recorder`; request failures become error classes."""
    request = client.build_request("POST", url, headers=headers, content=body)
    recorder.record.send_ns = recorder.last_ns = perf_counter_ns()
    try:
        async with asyncio.timeout_at(_deadline_s(recorder, timeouts)) as scope:
            response = await client.send(request, stream=True)
            try:
                recorder.on_status(response.status_code, perf_counter_ns())
                async for chunk in response.aiter_raw():
                    recorder.on_body(chunk, perf_counter_ns())
                    scope.reschedule(_deadline_s(recorder, timeouts))
            finally:
                await response.aclose()
        recorder.finish(perf_counter_ns())
    except TimeoutError:
        recorder.fail(errors.TIMEOUT, "a request time limit passed", perf_counter_ns())
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        recorder.fail(errors.CONNECT_ERROR, f"cannot connect: {exc}", perf_counter_ns())
    except httpx.TimeoutException as exc:
        recorder.fail(errors.TIMEOUT, str(exc) or type(exc).__name__, perf_counter_ns())
    except (httpx.TransportError, httpx.DecodingError) as exc:
        recorder.fail(errors.STREAM_CUT, f"{type(exc).__name__}: {exc}", perf_counter_ns())
