"""`RunSettings`: everything `loadgen run` was asked, as one typed value built once from click's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loadgen.run_config import Api, Arrival, ClientKind
from loadgen.settings import table as t
from loadgen.settings.option import nested, option
from loadgen.settings.workload import WorkloadSettings


@dataclass(frozen=True)
class RunSettings:
    """The options of `loadgen run`, in the order `--help` lists them."""

    base_url: str | None = option(t.BASE_URL)
    sim: bool = option(t.SIM)
    sim_arg: tuple[str, ...] = option(t.SIM_ARG)
    target_name: str | None = option(t.TARGET_NAME)
    model: str | None = option(t.MODEL)
    api: Api = option(t.API)
    stream: bool = option(t.STREAM)
    max_tokens: int = option(t.MAX_TOKENS)
    ignore_eos: bool = option(t.IGNORE_EOS)
    min_tokens: int | None = option(t.MIN_TOKENS)
    temperature: float = option(t.TEMPERATURE)
    n: int = option(t.RUN_N)
    sampling_seed: int | None = option(t.SAMPLING_SEED)
    no_usage: bool = option(t.NO_USAGE)
    api_key_env: str = option(t.API_KEY_ENV)
    extra_body: dict[str, Any] | None = option(t.EXTRA_BODY)
    header: tuple[tuple[str, str], ...] = option(t.HEADER)
    save_text: bool = option(t.SAVE_TEXT)
    tokenizer: str | None = option(t.RUN_TOKENIZER)
    workload: WorkloadSettings = nested(WorkloadSettings)
    num_prompts: int = option(t.NUM_PROMPTS)
    input_len: int = option(t.INPUT_LEN)
    output_len: int | None = option(t.RUN_OUTPUT_LEN)
    concurrency: tuple[int, ...] | None = option(t.CONCURRENCY)
    rate: tuple[float, ...] | None = option(t.RATE)
    arrival: Arrival = option(t.RUN_ARRIVAL)
    burstiness: float = option(t.RUN_BURSTINESS)
    max_concurrency: int | None = option(t.MAX_CONCURRENCY)
    num_requests: int | None = option(t.NUM_REQUESTS)
    duration: float | None = option(t.DURATION)
    warmup: int = option(t.RUN_WARMUP)
    preopen: int | None = option(t.PREOPEN)
    seed: int = option(t.SEED)
    connect_timeout: float = option(t.CONNECT_TIMEOUT)
    ttft_timeout: float = option(t.TTFT_TIMEOUT)
    idle_timeout: float = option(t.IDLE_TIMEOUT)
    request_timeout: float = option(t.REQUEST_TIMEOUT)
    client_kind: ClientKind = option(t.CLIENT)
    loop_kind: Literal["auto", "uvloop", "asyncio"] = option(t.LOOP)
    slo: tuple[str, ...] = option(t.SLO)
    percentiles: tuple[float, ...] = option(t.PERCENTILES)
    output_dir: Path | None = option(t.OUTPUT_DIR)
    metrics_port: int | None = option(t.METRICS_PORT)
    metrics_host: str = option(t.METRICS_HOST)
    no_progress: bool = option(t.NO_PROGRESS)
    max_error_rate: float = option(t.MAX_ERROR_RATE)
    server_metrics_interval: float = option(t.SERVER_METRICS_INTERVAL)
