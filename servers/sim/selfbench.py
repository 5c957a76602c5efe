"""Measure the scripted server itself: how many events a second it sends, its CPU per event, and (in
timed mode) how close to their deadlines the tokens leave.

    python -m servers.sim.selfbench                                         # fast mode, 256 tokens
    python -m servers.sim.selfbench --ttft-ms 100 --itl-ms 10 --output-tokens 64 --connections 256

The server runs as a subprocess pinned to `--server-core`; the client is this process, pinned to
`--client-core`: raw asyncio sockets that only count `data:` lines, far leaner than any real client,
so the figure is the server's. Each connection sends its next request when the last one ends.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, cast

import click
import httpx
import psutil

_END = b"[DONE]\n\n\r\n0\r\n\r\n"


@dataclass
class Counts:
    """What the client saw."""

    events: int = 0
    requests: int = 0
    stopping: bool = False


class _Client(asyncio.Protocol):
    def __init__(self, request: bytes, counts: Counts) -> None:
        self.request = request
        self.counts = counts
        self.tail = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        counts = self.counts
        counts.events += data.count(b"data: ")
        joined = self.tail + data
        if joined.endswith(_END):
            counts.requests += 1
            if not counts.stopping and self.transport is not None:
                self.transport.write(self.request)
        self.tail = joined[-len(_END) :]


def _request(api: str, tokens: int) -> bytes:
    if api == "chat":
        path, body = b"/v1/chat/completions", b'{"messages":[{"role":"user","content":"hi"}],'
    else:
        path, body = b"/v1/completions", b'{"prompt":"hi",'
    body += b'"stream":true,"max_tokens":%d,"ignore_eos":true}' % tokens
    return (
        b"POST %s HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (path, len(body), body)
    )


async def _drive(
    port: int, connections: int, request: bytes, warmup_s: float, seconds: float, server: psutil.Process
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    counts = Counts()
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(lambda: _Client(request, counts), "127.0.0.1", port)
        transports.append(transport)
    await asyncio.sleep(warmup_s)
    events0, requests0, t0 = counts.events, counts.requests, time.perf_counter()
    cpu0, own0 = server.cpu_times(), os.times()
    await asyncio.sleep(seconds)
    events1, requests1, t1 = counts.events, counts.requests, time.perf_counter()
    cpu1, own1 = server.cpu_times(), os.times()
    counts.stopping = True
    for transport in transports:
        transport.close()
    elapsed = t1 - t0
    server_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    client_cpu = (own1.user - own0.user) + (own1.system - own0.system)
    events = events1 - events0
    return {
        "events_per_s": events / elapsed,
        "requests_per_s": (requests1 - requests0) / elapsed,
        "server_cpu_cores": server_cpu / elapsed,
        "server_us_per_event": server_cpu / max(events, 1) * 1e6,
        "server_events_per_cpu_s": events / server_cpu if server_cpu else float("inf"),
        "client_cpu_cores": client_cpu / elapsed,
    }


def _lateness_us(base_url: str, ttft_ms: float, itl_ms: float) -> dict[str, float]:
    records = httpx.get(base_url + "/sim/truth", timeout=120).json()
    late: list[float] = []
    for record in records:
        if record["status"] != "ok":
            continue
        start = record["received_ns"] + record["pipeline_ns"] + record["queue_ns"] + ttft_ms * 1e6
        late += [(stamp - start - i * itl_ms * 1e6) / 1e3 for i, stamp in enumerate(record["token_ns"])]
    if not late:
        return {}
    late.sort()

    def pick(q: float) -> float:
        return late[min(len(late) - 1, int(q * len(late)))]

    return {"tokens": len(late), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": late[-1]}


@click.command(context_settings={"show_default": True})
@click.option("--connections", default=64, type=int, help="Concurrent streams (one per connection).")
@click.option("--seconds", default=5.0, type=float, help="Measured window.")
@click.option("--warmup-s", default=1.0, type=float, help="Unmeasured start.")
@click.option("--api", default="completions", type=click.Choice(["completions", "chat"]))
@click.option("--ttft-ms", default=0.0, type=float)
@click.option("--itl-ms", default=0.0, type=float, help="0 = fast mode.")
@click.option("--output-tokens", default=256, type=int, help="Tokens per request (ignore_eos).")
@click.option("--events-per-write", default=16, type=int)
@click.option("--server-core", default=0, type=int, help="CPU the server is pinned to (-1: none).")
@click.option("--client-core", default=1, type=int, help="CPU this client is pinned to (-1: none).")
def main(
    connections: int,
    seconds: float,
    warmup_s: float,
    api: str,
    ttft_ms: float,
    itl_ms: float,
    output_tokens: int,
    events_per_write: int,
    server_core: int,
    client_core: int,
) -> None:
    """Measure sim-server's event rate and CPU per event with a minimal client."""
    if client_core >= 0:
        os.sched_setaffinity(0, {client_core})
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "servers.sim",
        "--port",
        str(port),
        "--ttft-ms",
        str(ttft_ms),
        "--itl-ms",
        str(itl_ms),
        "--output-tokens",
        str(output_tokens),
        "--events-per-write",
        str(events_per_write),
        "--truth-keep",
        "0" if itl_ms == 0 else "1000000",
    ]
    if server_core >= 0:
        command = ["taskset", "-c", str(server_core), *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process)
        if itl_ms:
            httpx.delete(base_url + "/sim/truth")
        request = _request(api, output_tokens)
        result: dict[str, Any] = asyncio.run(
            _drive(port, connections, request, warmup_s, seconds, psutil.Process(process.pid))
        )
        if itl_ms:
            result["lateness_us"] = _lateness_us(base_url, ttft_ms, itl_ms)
    finally:
        process.terminate()
        process.wait(timeout=10)
    click.echo(
        f"{connections} streams, {api}, ttft {ttft_ms} ms, itl {itl_ms} ms, {output_tokens} tokens: "
        f"{result['events_per_s']:,.0f} events/s, {result['requests_per_s']:,.0f} requests/s; server "
        f"{result['server_cpu_cores']:.2f} cores = {result['server_us_per_event']:.2f} us/event "
        f"({result['server_events_per_cpu_s']:,.0f} events per CPU-second); client "
        f"{result['client_cpu_cores']:.2f} cores"
    )
    if "lateness_us" in result:
        late = result["lateness_us"]
        click.echo("token lateness vs deadline (us): " + ", ".join(f"{k} {v:,.0f}" for k, v in late.items()))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise click.ClickException(f"sim-server exited: {err.strip().splitlines()[-1:]}")
        try:
            if httpx.get(base_url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise click.ClickException("sim-server did not become healthy")


if __name__ == "__main__":
    main()
