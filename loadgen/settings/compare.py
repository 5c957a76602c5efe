"""`CompareSettings`: everything `loadgen compare` (and `loadgen demo`, a `compare --launch` with its
own defaults) was asked, as one typed value built once from click's.

`DEMO_OPTIONS` are the options `loadgen demo` shows; `DEMO_DEFAULTS` are its defaults where they differ
from compare's, shown or not: one place for what makes the demo the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loadgen.run_config import Api, Arrival, ClientKind
from loadgen.settings import table as t
from loadgen.settings.option import click_options, nested, option, option_specs, settings_from
from loadgen.settings.workload import WorkloadSettings


@dataclass(frozen=True)
class LaunchSettings:
    """The servers `--launch` (and `demo`) start: vLLM and the HF server on one model directory."""

    model_dir: Path | None = option(t.MODEL_DIR)
    max_model_len: int = option(t.MAX_MODEL_LEN)
    dtype: Literal["bfloat16", "float16", "float32"] = option(t.DTYPE)
    device: Literal["cpu", "cuda"] = option(t.DEVICE)
    random_weights: bool = option(t.RANDOM_WEIGHTS)
    kv_cache_gib: int = option(t.KV_CACHE_GIB)
    gpu_memory_utilization: float | None = option(t.GPU_MEMORY_UTILIZATION)
    gpu_memory_gib: float | None = option(t.GPU_MEMORY_GIB)
    vllm_over_budget: Literal["restart", "keep"] = option(t.VLLM_OVER_BUDGET)
    hf_max_batch_size: int = option(t.HF_MAX_BATCH_SIZE)
    hf_max_wait_ms: float = option(t.HF_MAX_WAIT_MS)
    hf_burst_gap_ms: float = option(t.HF_BURST_GAP_MS)
    hf_cuda_alloc_conf: str | None = option(t.HF_CUDA_ALLOC_CONF)
    start_timeout: float = option(t.START_TIMEOUT)


@dataclass(frozen=True)
class CompareSettings:
    """The options of `loadgen compare`, in the order `--help` lists them, and the demo's own."""

    targets: tuple[str, ...] = ()
    """NAME=URL arguments."""
    launch: bool = option(t.LAUNCH)
    model: str | None = option(t.COMPARE_MODEL)
    servers: LaunchSettings = nested(LaunchSettings)
    concurrency: tuple[int, ...] | None = option(t.COMPARE_CONCURRENCY)
    """None: `ComparePlan`'s levels (1,4,16)."""
    rate: tuple[float, ...] | None = option(t.COMPARE_RATE)
    max_concurrency: int | None = option(t.MAX_CONCURRENCY)
    arrival: Arrival | None = option(t.COMPARE_ARRIVAL)
    burstiness: float | None = option(t.COMPARE_BURSTINESS)
    repeats: int = option(t.REPEATS)
    rerun_client_bound: bool = option(t.RERUN_CLIENT_BOUND)
    capacity_search: bool = option(t.CAPACITY_SEARCH)
    capacity_max_rate: float | None = option(t.CAPACITY_MAX_RATE)
    capacity_steps: int | None = option(t.CAPACITY_STEPS)
    capacity_min_rate: float | None = option(t.CAPACITY_MIN_RATE)
    num_requests: int | None = option(t.COMPARE_NUM_REQUESTS)
    min_requests: int = option(t.MIN_REQUESTS)
    warmup: int | None = option(t.COMPARE_WARMUP)
    api: Api = option(t.API)
    input_len: int = option(t.INPUT_LEN)
    output_len: int = option(t.COMPARE_OUTPUT_LEN)
    n: int = option(t.N_CHOICES)
    ignore_eos: bool = option(t.COMPARE_IGNORE_EOS)
    offline_batches: tuple[int, ...] = option(t.OFFLINE_BATCHES)
    slo: tuple[str, ...] = option(t.SLO)
    baseline: str | None = option(t.BASELINE)
    parity: Literal["gate", "report"] = option(t.PARITY)
    probe_prompts: int = option(t.PROBE_PROMPTS)
    probe_tokens: int = option(t.PROBE_TOKENS)
    tokenizer: str | None = option(t.TOKENIZER)
    seed: int = option(t.SEED)
    api_key_env: str = option(t.API_KEY_ENV)
    client_kind: ClientKind = option(t.CLIENT)
    ttft_timeout: float = option(t.TTFT_TIMEOUT)
    idle_timeout: float = option(t.IDLE_TIMEOUT)
    request_timeout: float = option(t.REQUEST_TIMEOUT)
    output_dir: Path | None = option(t.OUTPUT_DIR)
    no_progress: bool = option(t.NO_PROGRESS)
    max_error_rate: float = option(t.MAX_ERROR_RATE)
    server_metrics_interval: float = option(t.SERVER_METRICS_INTERVAL)
    gpu_monitor: Literal["auto", "on", "off"] = option(t.GPU_MONITOR)
    workload: WorkloadSettings = nested(WorkloadSettings)
    sweep: Literal["output-variance"] | None = option(t.SWEEP)
    variance_spreads: tuple[str, ...] | None = option(t.VARIANCE_SPREADS)
    realistic_level: bool = option(t.REALISTIC_LEVEL)
    """`loadgen demo` only: one level of ShareGPT traffic beside the synthetic sweep, shaped by the
    `realistic_*` fields."""
    realistic_concurrency: int = t.REALISTIC_CONCURRENCY
    realistic_requests: int = t.REALISTIC_REQUESTS
    realistic_max_answer_len: int = t.REALISTIC_MAX_ANSWER_LEN
    realistic_max_prompt_len: int = t.REALISTIC_MAX_PROMPT_LEN
    realistic_dataset_path: str | None = None
    """None: the packaged ShareGPT file."""
    requests_per_slot: int = 4
    """Measured requests per concurrency slot when --num-requests is not given."""


COMPARE_ONLY_IN_DEMO = ("realistic_level",)
"""Options of `CompareSettings` that `loadgen compare` does not show."""

DEMO_OPTIONS = (
    *(s.dest for s in option_specs(LaunchSettings)),
    "concurrency",
    "output_len",
    "input_len",
    "n",
    "offline_batches",
    "output_dir",
    "no_progress",
    *(s.dest for s in option_specs(WorkloadSettings)),
    "realistic_level",
)
"""The options `loadgen demo` shows (the rest take `DEMO_DEFAULTS`, else compare's defaults)."""

DEMO_DEFAULTS: dict[str, Any] = {
    "launch": True,
    "concurrency": "1,4,8",
    "output_len": 32,
    "slo": ("ttft:1000", "tpot:100"),
    "requests_per_slot": 2,
    "min_requests": 4,
    "realistic_level": True,
    # on a small shared machine the client can fall behind at a level: run it once more rather than
    # end the demo without a verdict for it
    "rerun_client_bound": True,
}


def compare_options(func: Any) -> Any:
    """Add `loadgen compare`'s options (after its NAME=URL argument)."""
    return click_options(CompareSettings, skip=COMPARE_ONLY_IN_DEMO)(func)


def demo_options(func: Any) -> Any:
    """Add `loadgen demo`'s options, with its defaults."""
    return click_options(CompareSettings, only=DEMO_OPTIONS, defaults=DEMO_DEFAULTS)(func)


def compare_settings(values: dict[str, Any]) -> CompareSettings:
    """`loadgen compare`'s settings from what click parsed."""
    return settings_from(CompareSettings, values)


def demo_settings(values: dict[str, Any]) -> CompareSettings:
    """`loadgen demo`'s settings: a `compare --launch` with the demo's defaults under what click parsed."""
    return settings_from(CompareSettings, {**DEMO_DEFAULTS, **values})
