"""The same request through httpx (`--client httpx`): for https targets, and as the reference.

Less exact and more expensive per token than `transport_http1` (docs/benchmarks.md says by how
much): each chunk is stamped after httpx's stream layers hand it over, and httpx (h11) writes request
headers and body in separate writes. The pool is never capped below the concurrency. Chunks go to
the same `ResponseRecorder`, and time limits are `deadline`'s, enforced with one `asyncio.timeout_at`
scope re-armed per chunk.
"""

from __future__ import annotations

import asyncio
from time import perf_counter_ns

import httpx

from loadgen import errors
from loadgen.client.deadline import Limit, next_deadline, timeout_message
from loadgen.client.recorder import ResponseRecorder
from loadgen.run_config import Timeouts


def make_httpx_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """An `AsyncClient` with no connection cap and httpx's own timeouts off (we enforce ours)."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=None),
        timeout=httpx.Timeout(None, connect=timeouts.connect_s),
    )


def _loop_time(deadline: tuple[int, Limit] | None) -> float | None:
    """`deadline` (on `perf_counter_ns`) on the event loop's clock, for `asyncio.timeout_at`."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline[0] - perf_counter_ns()) / 1e9


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
    recorder.on_send(perf_counter_ns())
    deadline = next_deadline(timeouts, recorder)
    try:
        async with asyncio.timeout_at(_loop_time(deadline)) as scope:
            response = await client.send(request, stream=True)
            try:
                recorder.on_status(response.status_code, perf_counter_ns())
                async for chunk in response.aiter_raw():
                    recorder.on_body(chunk, perf_counter_ns())
                    deadline = next_deadline(timeouts, recorder)
                    scope.reschedule(_loop_time(deadline))
            finally:
                await response.aclose()
        recorder.finish(perf_counter_ns())
    except TimeoutError as exc:
        # The scope raised it (httpx raises its own classes), so `deadline` is the limit that passed:
        # nothing it depends on changed since the scope was last armed.
        message = timeout_message(timeouts, deadline[1]) if deadline is not None else repr(exc)
        recorder.fail(errors.TIMEOUT, message, perf_counter_ns())
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        recorder.fail(errors.CONNECT_ERROR, f"cannot connect: {exc}", perf_counter_ns())
    except httpx.TimeoutException as exc:
        recorder.fail(errors.TIMEOUT, str(exc) or type(exc).__name__, perf_counter_ns())
    except (httpx.TransportError, httpx.DecodingError) as exc:
        recorder.fail(errors.STREAM_CUT, f"{type(exc).__name__}: {exc}", perf_counter_ns())
