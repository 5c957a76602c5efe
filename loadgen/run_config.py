"""What a run talks to, what each request asks for, and the shape of the load: plain frozen dataclasses.

These are the arguments of the public runner API (`loadgen.runner.run_level` / `run_sweep`), shared by
the CLI, the comparison and the benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from loadgen.errors import ConfigError

Api = Literal["completions", "chat"]
Arrival = Literal["constant", "poisson", "gamma"]
ClientKind = Literal["fast", "httpx"]


@dataclass(frozen=True, slots=True)
class Target:
    """One OpenAI-compatible server under test."""

    name: str
    """Label used in records, summaries and the `target` metric label, e.g. `vllm`."""
    base_url: str
    """`http://host:port` (a trailing `/v1` is accepted and not doubled)."""
    model: str
    api_key: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"base URL must be http(s)://host[:port][/path], got {self.base_url!r}")

    def endpoint_path(self, api: Api) -> str:
        """The request path of `api` on this target."""
        base = urlsplit(self.base_url).path.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return f"{base}/{'chat/completions' if api == 'chat' else 'completions'}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request limits; each one that fires makes the request a `timeout` error. None = no limit."""

    connect_s: float = 10.0
    ttft_s: float | None = 300.0
    """From the send to the first content event."""
    idle_s: float | None = 120.0
    """Longest gap between two arrivals of response bytes once content flows (before it, `ttft_s`
    governs; where that is None, idle covers the wait for the first token too)."""
    total_s: float | None = 900.0


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """What every request of a run asks for."""

    api: Api = "completions"
    stream: bool = True
    max_tokens: int | None = 128
    """Default output length; a prompt's own `output_tokens` wins."""
    ignore_eos: bool = False
    min_tokens: int | None = None
    temperature: float | None = 0.0
    seed: int | None = None
    include_usage: bool = True
    n: int = 1
    """Choices per request (parallel sampling); every choice's tokens count."""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request (after the standard ones, so they can override them)."""
    save_text: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)
    client: ClientKind = "fast"
    """`fast`: the lean asyncio HTTP/1.1 client (http:// only); `httpx`: httpx (also https)."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load level: closed loop at a concurrency, or open loop at a rate.

    Requests are numbered 0, 1, ...; request `i` uses prompt `i % len(prompts)`. The first
    `warmup_requests` are flagged `warmup` (kept in the JSONL, left out of the statistics); the
    count and duration bounds apply to the measured requests after them.
    """

    mode: Literal["closed", "open"]
    concurrency: int | None = None
    """Closed loop: requests kept in flight. Open loop: optional cap on requests in flight."""
    rate: float | None = None
    """Open loop: mean arrivals per second."""
    arrival: Arrival = "poisson"
    burstiness: float = 1.0
    """Gamma shape (1 = Poisson); lower is burstier."""
    num_requests: int | None = None
    duration_s: float | None = None
    warmup_requests: int = 0
    seed: int = 0
    preopen: int | None = None
    """Connections opened before the window; default: the concurrency (or cap), else about 2 s of arrivals."""
    tag: str | None = None
    """Names a level that sends other traffic than its sweep's (`exponential:32`, `sharegpt`): it
    prefixes the label, so two levels at one concurrency stay apart."""

    def __post_init__(self) -> None:
        if self.mode == "closed":
            if self.concurrency is None or self.concurrency < 1:
                raise ConfigError("closed-loop load needs a concurrency of at least 1")
        elif self.mode == "open":
            if self.rate is None or not math.isfinite(self.rate):
                raise ConfigError(f"open-loop load needs a finite rate in requests/s, got {self.rate}")
            if not self.rate > 0:
                raise ConfigError(f"open-loop load needs a rate above 0 requests/s, got {self.rate:g}")
            if self.concurrency is not None and self.concurrency < 1:
                raise ConfigError("the concurrency cap must be at least 1")
        else:
            raise ConfigError(f"unknown load mode {self.mode!r}")
        if self.num_requests is None and self.duration_s is None:
            raise ConfigError("a load level needs a request count, a duration, or both")
        if self.num_requests is not None and self.num_requests < 1:
            raise ConfigError("the request count must be at least 1")
        if self.duration_s is not None and not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ConfigError(
                f"the duration must be a finite number of seconds above 0, got {self.duration_s}"
            )
        if self.warmup_requests < 0:
            raise ConfigError("warm-up requests cannot be negative")
        if not self.burstiness > 0:
            raise ConfigError("burstiness must be above 0")

    @property
    def label(self) -> str:
        """The level's name in records and summaries: `concurrency=16` or `rate=4`."""
        base = f"concurrency={self.concurrency}" if self.mode == "closed" else f"rate={self.rate:g}"
        return base if self.tag is None else f"{self.tag} {base}"

    @property
    def connections(self) -> int:
        """How many connections to open before the measured window."""
        if self.preopen is not None:
            return self.preopen
        if self.concurrency is not None:
            return self.concurrency
        assert self.rate is not None
        return max(1, min(256, math.ceil(self.rate * 2)))

    def with_level(self, *, concurrency: int | None = None, rate: float | None = None) -> LoadSpec:
        """A copy at another concurrency or rate (sweeps)."""
        if self.mode == "closed":
            return replace(self, concurrency=concurrency)
        return replace(self, rate=rate)
