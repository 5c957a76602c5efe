"""The HF server's knobs: one frozen record, filled from the command line (or `HF_SERVER_*` variables)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from servers.hf.attention import SdpaBackend

Device = Literal["auto", "cuda", "cpu"]
DType = Literal["auto", "bfloat16", "float16", "float32"]
DEVICES: tuple[Device, ...] = ("auto", "cuda", "cpu")
Engine = Literal["auto", "thread", "process"]
ENGINES: tuple[Engine, ...] = ("auto", "thread", "process")
DeviceMap = Literal["auto", "balanced", "balanced_low_0", "sequential"]
DEVICE_MAPS: tuple[DeviceMap, ...] = ("auto", "balanced", "balanced_low_0", "sequential")
DTYPES: tuple[DType, ...] = ("auto", "bfloat16", "float16", "float32")


@dataclass(frozen=True)
class BatchingSettings:
    """How requests are grouped into `generate` calls."""

    max_batch_size: int = 8
    """Most requests in one `generate` call."""
    max_wait_ms: float = 10.0
    """Longest a batch waits to fill, counted from its first request's arrival, or from when the batcher
    got to that request if it arrived while the previous batch was running."""
    max_queue: int = 256
    """Most requests waiting for a batch (the one being formed included); more get 503."""
    burst_gap_ms: float = 10.0
    """If requests were still arriving when `max_wait_ms` ran out (the newest arrived after the window
    opened and less than this long ago), the batch keeps filling until none has arrived for this long
    (or it is full): a burst that takes longer than the window to arrive is not cut in two. 0: off."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must not be negative, got {self.max_wait_ms}")
        if self.burst_gap_ms < 0:
            raise ValueError(f"burst_gap_ms must not be negative, got {self.burst_gap_ms}")
        if self.max_queue < self.max_batch_size:
            raise ValueError(
                f"max_queue ({self.max_queue}) must be at least max_batch_size ({self.max_batch_size}): "
                "a batch forms from waiting requests"
            )


@dataclass(frozen=True)
class ServerSettings:
    """Everything that decides what the server loads and how it serves."""

    model_dir: Path
    served_model_name: str
    host: str = "127.0.0.1"
    port: int = 8001
    device: Device = "auto"
    device_map: DeviceMap | None = None
    """Spread the model over every visible GPU (accelerate's device maps); None: all on `device`."""
    dtype: DType = "auto"
    gpu_memory_gib: float | None = None
    """Cap on the CUDA memory this server's model process may allocate (every GPU it uses), through
    `torch.cuda.set_per_process_memory_fraction`; None: no cap. CUDA only."""
    attn_implementation: str | None = None
    sdpa_backend: SdpaBackend = "auto"
    """Which CUDA SDPA kernels transformers' `sdpa` attention may use (servers/hf/attention.py)."""
    warmup_batch_sizes: tuple[int, ...] | None = None
    """Batch sizes of the `generate` calls made before the server reports healthy; None: the default
    (every power of two up to `max_batch_size`, and it, on CUDA; none on CPU)."""
    engine: Engine = "auto"
    """Where `generate` runs: `thread` (in the HTTP process), `process` (servers/hf/engine.py), or
    `auto`: a process on CUDA, a thread on CPU."""
    gil_switch_interval_ms: float | None = None
    """`sys.setswitchinterval` for the server process; None keeps Python's (5 ms)."""
    random_weights: bool = False
    max_model_len: int | None = None
    api_key: str | None = None
    batching: BatchingSettings = BatchingSettings()
    max_n: int = 16
    """Most choices (`n`) one request may ask for; each choice is one row of a batch."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body; a bigger one is refused with 413 before it is read."""
    shutdown_timeout_s: float = 30.0
    """On SIGTERM, how long in-flight requests may take to finish before they are cancelled."""

    def public(self) -> dict[str, Any]:
        """The settings as JSON-ready values, without the API key."""
        values = asdict(self)
        values["model_dir"] = str(self.model_dir)
        values["api_key"] = "set" if self.api_key else None
        values.update(values.pop("batching"))
        return values
