"""The one launch configuration that makes vLLM and the HF server comparable.

Both servers get the same model directory, served model name, maximum context, dtype and weights
(real, or random on both sides: vLLM's `--load-format dummy` matches the HF server's
`--random-weights`). `ServeSettings` holds what the two must agree on; `VllmLaunch` and `HfLaunch`
turn it into an argv and an environment. The `vllm-server` CLI, the test fixtures, `loadgen compare
--launch` and the compose file all build their command lines here, so there is one place to read
how vLLM is run.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_SERVED_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_MODEL_DIR = Path(".cache/models") / DEFAULT_SERVED_MODEL_NAME
MODEL_DIR_ENV = "SERVEBENCH_MODEL_DIR"
VLLM_PORT = 8000
HF_PORT = 8001
DTYPES = ("bfloat16", "float16", "float32")
DEVICES = ("cpu", "cuda")
DEFAULT_MAX_MODEL_LEN = 2048
"""Maximum context of both servers unless told otherwise: the one definition of this default
(`hf-server serve` without `--max-model-len` uses it too, capped at the model's own context)."""


GIB = 2**30


def gib_to_fraction(budget_gib: float, total_bytes: int) -> float:
    """The share of a device of `total_bytes` that a budget of `budget_gib` GiB is, rounded down to 4
    places (never above the budget): vLLM's `--gpu-memory-utilization` for that budget."""
    if budget_gib <= 0:
        raise ValueError(f"a GPU memory budget must be above 0 GiB, not {budget_gib}")
    if total_bytes <= 0:
        raise ValueError(f"the device's total memory must be above 0 bytes, not {total_bytes}")
    fraction = budget_gib * GIB / total_bytes
    if fraction > 1:
        raise ValueError(f"a budget of {budget_gib:g} GiB exceeds the device's {total_bytes / GIB:.1f} GiB")
    return math.floor(fraction * 10_000) / 10_000


def cuda_total_memory_bytes() -> int:
    """Total memory of the first visible GPU, from `nvidia-smi` (no CUDA context in this process:
    the load generator must not take GPU memory from the servers)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    index = visible if visible.isdigit() else "0"
    try:
        out = subprocess.run(
            ["nvidia-smi", "-i", index, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return int(float(out.strip().splitlines()[0]) * 2**20)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        raise ValueError(f"cannot read the GPU's total memory with nvidia-smi: {exc}") from exc


def default_model_dir() -> Path:
    """The default model directory: `$SERVEBENCH_MODEL_DIR`, else `.cache/models/SmolLM2-135M-Instruct`."""
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)


@dataclass(frozen=True)
class ServeSettings:
    """What both servers must share for their numbers to be comparable."""

    model_dir: Path
    served_model_name: str = DEFAULT_SERVED_MODEL_NAME
    max_model_len: int = DEFAULT_MAX_MODEL_LEN
    """Maximum context (prompt + output tokens) on both servers."""
    dtype: str = "bfloat16"
    device: str = "cpu"
    random_weights: bool = False
    """Serve the model's architecture with random weights (vLLM: `--load-format dummy`)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.max_model_len < 16:
            raise ValueError(f"max_model_len must be at least 16, not {self.max_model_len}")


@dataclass(frozen=True)
class VllmLaunch:
    """How `vllm serve` is started for a comparison."""

    settings: ServeSettings
    port: int = VLLM_PORT
    host: str = "127.0.0.1"
    kv_cache_gib: int = 1
    """CPU: KV-cache size in GiB (`VLLM_CPU_KVCACHE_SPACE`); unsized, vLLM takes ~92% of the RAM."""
    gpu_memory_utilization: float | None = None
    """GPU: fraction of the GPU vLLM may take (leave room when the HF server shares the GPU)."""
    gpu_memory_gib: float | None = None
    """GPU: a budget in GiB instead, turned into `--gpu-memory-utilization` from the GPU's total memory
    (the same budget the HF server's `--gpu-memory-gib` caps it to)."""
    gpu_total_bytes: int | None = None
    """The GPU's total memory for `gpu_memory_gib`; None: asked of `nvidia-smi` when the argv is built."""
    kv_cache_memory_bytes: int | None = None
    """GPU: the KV cache's size in bytes (`--kv-cache-memory-bytes`), in place of the one vLLM sizes
    from the utilization (which is still passed: vLLM checks it against the free memory at start).
    What keeps vLLM inside a budget when its CUDA graphs are not profiled (`loadgen.compare.budget`)."""
    startup_plan: bool = True
    """With `gpu_memory_gib` on CUDA: `VLLM_ENABLE_STARTUP_PLAN=1`, so the KV-cache size that fits the
    budget, saved by one start, is applied by the next (`loadgen.compare.budget`). False keeps vLLM
    sizing its cache from the utilization at every start."""
    max_num_seqs: int | None = None
    """vLLM's batch-size cap; None keeps vLLM's default."""
    enforce_eager: bool | None = None
    """None: eager on CPU (starts in ~30 s instead of ~90 s), compiled/CUDA graphs on GPU."""
    cache_dir: Path = Path(".cache/vllm")
    access_log: bool = False
    """uvicorn's per-request access log (off: it costs CPU the HF server does not spend)."""
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.gpu_memory_gib is not None and self.gpu_memory_utilization is not None:
            raise ValueError("give vLLM a GPU memory budget in GiB or a utilization, not both")
        if self.kv_cache_memory_bytes is not None and self.kv_cache_memory_bytes <= 0:
            raise ValueError(f"vLLM's KV cache must be above 0 bytes, not {self.kv_cache_memory_bytes}")

    @property
    def gpu_share(self) -> float | None:
        """The `--gpu-memory-utilization` passed on CUDA (from the GiB budget when one is set)."""
        if self.gpu_memory_gib is None:
            return self.gpu_memory_utilization
        total = self.gpu_total_bytes if self.gpu_total_bytes is not None else cuda_total_memory_bytes()
        return gib_to_fraction(self.gpu_memory_gib, total)

    def argv(self, vllm: str | None = None) -> list[str]:
        """The command line `vllm serve MODEL_DIR ...`; `vllm` defaults to `vllm_executable()`."""
        s = self.settings
        args = [
            vllm or vllm_executable(),
            "serve",
            str(s.model_dir),
            "--served-model-name",
            s.served_model_name,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--max-model-len",
            str(s.max_model_len),
            "--dtype",
            s.dtype,
            "--seed",
            str(s.seed),
        ]
        if s.random_weights:
            args += ["--load-format", "dummy"]
        if self.max_num_seqs is not None:
            args += ["--max-num-seqs", str(self.max_num_seqs)]
        share = self.gpu_share if s.device == "cuda" else None
        if share is not None:
            args += ["--gpu-memory-utilization", str(share)]
        if self.kv_cache_memory_bytes is not None and s.device == "cuda":
            args += ["--kv-cache-memory-bytes", str(self.kv_cache_memory_bytes)]
        if self.eager:
            args.append("--enforce-eager")
        if not self.access_log:
            args.append("--disable-uvicorn-access-log")
        return args + list(self.extra_args)

    def with_kv_cache_memory(self, kv_cache_bytes: int) -> VllmLaunch:
        """This launch with its KV cache sized to `kv_cache_bytes` (`--kv-cache-memory-bytes`)."""
        return replace(self, kv_cache_memory_bytes=kv_cache_bytes)

    @property
    def eager(self) -> bool:
        """Whether `--enforce-eager` is passed."""
        return self.enforce_eager if self.enforce_eager is not None else self.settings.device == "cpu"

    def env(self) -> dict[str, str]:
        """Environment variables to add to the inherited environment."""
        cache = self.cache_dir.resolve()
        env = {
            "VLLM_HOST_IP": self.host if self.host != "0.0.0.0" else "127.0.0.1",
            "VLLM_CACHE_ROOT": str(cache),
            "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
        if self.settings.device == "cuda" and self.gpu_memory_gib is not None and self.startup_plan:
            # saves the KV-cache size that fits the budget and reuses it at the next start of the
            # same configuration (`loadgen.compare.budget`)
            env["VLLM_ENABLE_STARTUP_PLAN"] = "1"
        if self.settings.device == "cpu":
            env["VLLM_CPU_KVCACHE_SPACE"] = str(self.kv_cache_gib)
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
            env["VLLM_TARGET_DEVICE"] = "cpu"
        return env

    @property
    def base_url(self) -> str:
        """Where the server answers once it is up."""
        return f"http://{_client_host(self.host)}:{self.port}"


@dataclass(frozen=True)
class HfLaunch:
    """How the HF server (`python -m servers.hf`) is started for a comparison."""

    settings: ServeSettings
    port: int = HF_PORT
    host: str = "127.0.0.1"
    max_batch_size: int = 32
    """Most requests per `generate` call; 32 covers the offline batches (4-32) in one call."""
    max_wait_ms: float = 10.0
    burst_gap_ms: float = 10.0
    gpu_memory_gib: float | None = None
    """GPU: cap on the server's CUDA memory (`--gpu-memory-gib`); None: the whole GPU."""
    cuda_alloc_conf: str | None = None
    """GPU: the server's `PYTORCH_CUDA_ALLOC_CONF` (e.g. `expandable_segments:True`); None: PyTorch's
    default, or whatever the inherited environment sets."""
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def argv(self, python: str = sys.executable) -> list[str]:
        """The command line: `python -m servers.hf serve --model-dir DIR ...`."""
        s = self.settings
        args = [
            python,
            "-m",
            "servers.hf",
            "serve",
            "--model-dir",
            str(s.model_dir),
            "--served-model-name",
            s.served_model_name,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--device",
            s.device,
            "--dtype",
            s.dtype,
            "--max-model-len",
            str(s.max_model_len),
            "--max-batch-size",
            str(self.max_batch_size),
            "--max-wait-ms",
            f"{self.max_wait_ms:g}",
            "--burst-gap-ms",
            f"{self.burst_gap_ms:g}",
        ]
        if s.random_weights:
            args.append("--random-weights")
        if self.gpu_memory_gib is not None and s.device == "cuda":
            args += ["--gpu-memory-gib", f"{self.gpu_memory_gib:g}"]
        return args + list(self.extra_args)

    def env(self) -> dict[str, str]:
        """Environment variables to add to the inherited environment."""
        env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        if self.cuda_alloc_conf is not None and self.settings.device == "cuda":
            env["PYTORCH_CUDA_ALLOC_CONF"] = self.cuda_alloc_conf
        return env

    @property
    def base_url(self) -> str:
        """Where the server answers once it is up."""
        return f"http://{_client_host(self.host)}:{self.port}"


def vllm_executable() -> str:
    """The `vllm` command of this interpreter's environment, else whatever `vllm` is on PATH."""
    beside = Path(sys.executable).parent / "vllm"
    return str(beside) if beside.exists() else "vllm"


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host
