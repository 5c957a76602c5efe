"""`loadgen compare` and `loadgen demo`: the side-by-side comparison from the command line.

    loadgen compare vllm=http://127.0.0.1:8000 hf=http://127.0.0.1:8001 --concurrency 1,4,16
    loadgen compare --launch --concurrency 1,4,8          # start vLLM and the HF server here first
    loadgen demo                                          # the README's main command, on the small model

Exit status: 0 when every parity gate passed and failed requests stayed within --max-error-rate
(default 0) for every target; 2 on bad input or a server that cannot be reached; 3 when a parity
gate failed (the report says which); 4 when a target's failed requests exceeded --max-error-rate;
5 when no measured request succeeded on some target; 130 when interrupted (loadgen.exit_status).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from loadgen.exit_status import DEFAULT_MAX_ERROR_RATE
from loadgen.workload_cli import workload_options
from servers.vllm.launch import DEFAULT_MAX_MODEL_LEN

COMMON_HELP = {"help_option_names": ["-h", "--help"]}


def launch_options(func: Any) -> Any:
    """Options of the servers `--launch` (and `demo`) start."""
    options = [
        click.option(
            "--model-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Model directory both servers serve (default: $SERVEBENCH_MODEL_DIR or "
            ".cache/models/SmolLM2-135M-Instruct).",
        ),
        click.option(
            "--max-model-len", type=click.IntRange(min=16), default=DEFAULT_MAX_MODEL_LEN, show_default=True
        ),
        click.option(
            "--dtype",
            type=click.Choice(["bfloat16", "float16", "float32"]),
            default="bfloat16",
            show_default=True,
        ),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True),
        click.option(
            "--random-weights",
            is_flag=True,
            help="Random weights on both servers (vLLM --load-format dummy); skips the token-agreement gate.",
        ),
        click.option(
            "--kv-cache-gib",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="vLLM's KV cache on CPU.",
        ),
        click.option(
            "--gpu-memory-utilization",
            type=click.FloatRange(0, 1, min_open=True),
            help="vLLM's share of the GPU with --device cuda [default: 0.5, leaving room for the HF server].",
        ),
        click.option(
            "--gpu-memory-gib",
            type=click.FloatRange(0, min_open=True),
            help="The same GPU memory budget for both servers with --device cuda: vLLM's "
            "--gpu-memory-utilization sized to it, the HF server capped at it.",
        ),
        click.option("--hf-max-batch-size", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--hf-max-wait-ms", type=click.FloatRange(min=0), default=10.0, show_default=True),
        click.option(
            "--start-timeout",
            type=click.FloatRange(min=1),
            default=300.0,
            show_default=True,
            help="Seconds each server gets to become healthy.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_options(func: Any) -> Any:
    """Options of the comparison itself."""
    options = [
        click.option("--concurrency", help="Closed-loop levels, e.g. 1,4,16."),
        click.option("--rate", help="Open-loop levels in requests/s, e.g. 1,2,4 (instead of --concurrency)."),
        click.option(
            "--max-concurrency", type=click.IntRange(min=1), help="Open loop: cap on requests in flight."
        ),
        click.option(
            "--arrival",
            type=click.Choice(["poisson", "gamma", "constant"]),
            help="Open loop (--rate): arrival process [default: poisson].",
        ),
        click.option(
            "--burstiness",
            type=click.FloatRange(min=0, min_open=True),
            help="--arrival gamma: shape of the gaps (1 = Poisson, lower is burstier) [default: 1].",
        ),
        click.option(
            "--repeats",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Runs of each level on each target, interleaved (A B, B A, ...); the report gives 95% "
            "intervals.",
        ),
        click.option(
            "--rerun-client-bound",
            is_flag=True,
            help="Run a level once more when the load generator was the bottleneck (it stays out of the "
            "verdict if it is again).",
        ),
        click.option(
            "--capacity-search",
            is_flag=True,
            help="Also find each server's highest rate with goodput >= 90% under the --slo limits.",
        ),
        click.option(
            "--capacity-max-rate",
            type=click.FloatRange(min=0, min_open=True),
            help="--capacity-search: highest rate tried, req/s [default: 64].",
        ),
        click.option(
            "--capacity-steps",
            type=click.IntRange(min=1),
            help="--capacity-search: most probes per server [default: 12].",
        ),
        click.option(
            "--num-requests",
            type=click.IntRange(min=1),
            help="Measured requests per level [default: 4 per concurrency slot, at least --min-requests].",
        ),
        click.option(
            "--min-requests",
            type=click.IntRange(min=1),
            default=8,
            show_default=True,
            help="Fewest measured requests of a level when --num-requests is not given (low concurrency "
            "levels otherwise hold only a few batches: too few for a run-to-run figure).",
        ),
        click.option(
            "--warmup",
            type=click.IntRange(min=0),
            help="Warm-up requests per level [default: the concurrency].",
        ),
        click.option(
            "--api", type=click.Choice(["completions", "chat"]), default="completions", show_default=True
        ),
        click.option("--input-len", type=click.IntRange(min=1), default=128, show_default=True),
        click.option(
            "--output-len",
            type=click.IntRange(min=1),
            default=128,
            show_default=True,
            help="max_tokens of every request.",
        ),
        click.option(
            "--n",
            "n",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Choices per request (parallel sampling, at temperature 1); every choice's tokens count.",
        ),
        click.option(
            "--ignore-eos/--no-ignore-eos",
            default=True,
            show_default=True,
            help="Make every output exactly --output-len tokens long on every server.",
        ),
        click.option(
            "--offline-batches",
            default="4,8,16,32",
            show_default=True,
            help="Fixed batch sizes sent at once after the sweep; 'none' to skip.",
        ),
        click.option(
            "--slo", multiple=True, help="SLO for goodput, e.g. --slo ttft:1000 --slo tpot:100 (ms)."
        ),
        click.option("--baseline", help="Target the speed-ups are relative to [default: hf, else the last]."),
        click.option(
            "--parity",
            type=click.Choice(["gate", "report"]),
            default="gate",
            show_default=True,
            help="gate: stop before the sweep when the servers fail the parity probe; report: go on.",
        ),
        click.option(
            "--probe-prompts",
            type=click.IntRange(1, 8),
            default=8,
            show_default=True,
            help="Fixed prompts of the greedy parity probe.",
        ),
        click.option(
            "--probe-tokens",
            type=click.IntRange(1),
            default=32,
            show_default=True,
            help="Tokens each parity-probe prompt asks for.",
        ),
        click.option(
            "--tokenizer", help="tokenizer.json or model dir [default: the served model's directory]."
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--api-key-env",
            default="OPENAI_API_KEY",
            show_default=True,
            help="Environment variable holding the API key sent to every target (if set).",
        ),
        click.option(
            "--client", "client_kind", type=click.Choice(["fast", "httpx"]), default="fast", show_default=True
        ),
        click.option(
            "--output-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Run directory [default: results/<timestamp>].",
        ),
        click.option("--no-progress", is_flag=True, help="No progress line on stderr."),
        click.option(
            "--max-error-rate",
            type=click.FloatRange(0, 1),
            default=DEFAULT_MAX_ERROR_RATE,
            show_default=True,
            help="Largest share of failed measured requests per target that still exits 0.",
        ),
        click.option(
            "--server-metrics-interval",
            type=click.FloatRange(min=0),
            default=1.0,
            show_default=True,
            help="Seconds between scrapes of each target's /metrics during the sweep (0: off).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("compare", context_settings=COMMON_HELP)
@click.argument("targets", nargs=-1)
@click.option(
    "--launch", is_flag=True, help="Start vLLM and the HF server here (default model) and compare them."
)
@click.option("--model", help="Model name to request from every target (skips the same-name check).")
@launch_options
@run_options
@workload_options
@click.option(
    "--sweep",
    type=click.Choice(["output-variance"]),
    help="output-variance: instead of the load sweep, one level per output-length spread (fixed, "
    "uniform, exponential; mean --output-len) at the first --concurrency.",
)
def compare_command(**opts: Any) -> None:
    """Compare servers side by side: NAME=URL targets (two or more), or --launch.

    \b
    Exit status: 0 ok; 2 bad input or a target unreachable; 3 a parity gate failed; 4 a target's
    failed requests above --max-error-rate; 5 no measured request succeeded on a target; 130
    interrupted.
    """
    from loadgen.compare.execute import execute

    sys.exit(execute(opts, argv=sys.argv))


@click.command("demo", context_settings=COMMON_HELP)
@launch_options
@click.option("--concurrency", default="1,4,8", show_default=True, help="Closed-loop levels.")
@click.option("--output-len", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--input-len", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Choices per request (parallel sampling, at temperature 1).",
)
@click.option("--offline-batches", default="4,8,16,32", show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-progress", is_flag=True)
@workload_options
@click.option(
    "--realistic-level/--no-realistic-level",
    default=True,
    show_default=True,
    help="Add one level of ShareGPT traffic beside the synthetic sweep: concurrency 8, 16 requests, "
    "conversations with answers of at most 64 tokens and prompts of at most 256.",
)
def demo_command(**opts: Any) -> None:
    """Start vLLM (CPU) and the HF server on the small default model, compare them, write the report."""
    from loadgen.compare.execute import demo_options, execute

    sys.exit(execute(demo_options(opts), argv=sys.argv))
