"""The scripted server's settings: one frozen dataclass that the CLI fills and every module reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

JitterKind = Literal["none", "uniform", "normal", "exponential"]
JITTER_KINDS: tuple[JitterKind, ...] = ("none", "uniform", "normal", "exponential")
BatchingKind = Literal["continuous", "static"]
BATCHING_KINDS: tuple[BatchingKind, ...] = ("continuous", "static")

FAULT_KINDS: tuple[str, ...] = (
    "http_500",
    "http_429",
    "http_400",
    "inband_error",
    "malformed_sse",
    "cut_stream",
    "no_tokens",
    "slow_headers",
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that shapes the server's timing, output and faults."""

    host: str = "127.0.0.1"
    port: int = 8002
    model: str = "sim-model"
    ttft_ms: float = 100.0
    itl_ms: float = 10.0
    output_tokens: int = 64
    jitter: JitterKind = "none"
    jitter_ms: float = 0.0
    seed: int = 0
    slowdown: float = 0.0
    max_concurrency: int | None = None
    batching: BatchingKind = "continuous"
    """`continuous`: a finished request's slot is refilled at once; `static`: batches of up to
    `max_concurrency` that hold the server until their longest member ends."""
    batch_wait_ms: float = 10.0
    """Static batching: how long a batch waits for more members after the first one came."""
    fault: str | None = None
    fault_every: int = 1
    fault_after: int = 3
    hang_s: float = 30.0
    events_per_write: int = 16
    truth_file: Path | None = None
    truth_keep: int = 100_000
    max_model_len: int = 4096

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason these settings are unusable (empty when they are fine)."""
        out: list[str] = []
        if not self.model:
            out.append("--model must not be empty")
        if not 0 <= self.port <= 65535:
            out.append("--port must be within 0..65535")
        for name in ("ttft_ms", "itl_ms", "jitter_ms", "slowdown", "hang_s", "batch_wait_ms"):
            if getattr(self, name) < 0:
                out.append(f"--{name.replace('_', '-')} must be >= 0")
        if self.output_tokens < 1:
            out.append("--output-tokens must be >= 1")
        if self.jitter not in JITTER_KINDS:
            out.append(f"--jitter must be one of {', '.join(JITTER_KINDS)}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            out.append("--max-concurrency must be >= 1")
        if self.batching not in BATCHING_KINDS:
            out.append(f"--batching must be one of {', '.join(BATCHING_KINDS)}")
        if self.batching == "static" and self.max_concurrency is None:
            out.append("--batching static needs --max-concurrency (the batch size)")
        if self.fault is not None and self.fault not in FAULT_KINDS:
            out.append(f"--fault must be one of {', '.join(FAULT_KINDS)}")
        if self.fault_every < 1:
            out.append("--fault-every must be >= 1")
        if self.fault_after < 0:
            out.append("--fault-after must be >= 0")
        if self.events_per_write < 1:
            out.append("--events-per-write must be >= 1")
        if self.truth_keep < 0:
            out.append("--truth-keep must be >= 0")
        return out

    @property
    def fast(self) -> bool:
        """True when tokens go out as fast as possible (`--itl-ms 0` and no jitter)."""
        return self.itl_ms == 0 and (self.jitter == "none" or self.jitter_ms == 0)

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON-ready values (for GET /sim/config)."""
        out = asdict(self)
        out["truth_file"] = str(self.truth_file) if self.truth_file else None
        out["fast"] = self.fast
        return out
