"""`sim-server` / `python -m servers.sim`: the scripted-latency OpenAI server's command line."""

from __future__ import annotations

from pathlib import Path

import click

from servers.sim.config import BATCHING_KINDS, FAULT_KINDS, JITTER_KINDS, SimConfig


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=8002, type=int, help="Port to listen on (0 = any free port).")
@click.option("--model", default="sim-model", help="The served model name.")
@click.option("--ttft-ms", default=100.0, type=float, help="Time from admission to the first token.")
@click.option("--itl-ms", default=10.0, type=float, help="Delay between tokens; 0 = as fast as possible.")
@click.option(
    "--output-tokens",
    default=64,
    type=int,
    help="Tokens generated when the request sets no max_tokens (else min of both; "
    "ignore_eos gives exactly max_tokens; min_tokens raises the floor).",
)
@click.option("--jitter", default="none", type=click.Choice(JITTER_KINDS), help="Jitter distribution.")
@click.option(
    "--jitter-ms",
    default=0.0,
    type=float,
    help="Jitter scale: uniform half-width, normal std, exponential mean.",
)
@click.option("--seed", default=0, type=int, help="Seed of the jitter generator.")
@click.option(
    "--slowdown",
    default=0.0,
    type=float,
    help="Delays scale by 1 + slowdown * (running requests - 1), like a batching server.",
)
@click.option(
    "--max-concurrency",
    default=None,
    type=int,
    help="Requests generating at once; more wait in a queue (counted in their truth).",
)
@click.option(
    "--batching",
    default="continuous",
    type=click.Choice(BATCHING_KINDS),
    help="continuous: a finished request's slot is refilled at once; static: batches of up "
    "to --max-concurrency that hold the server until their longest request ends.",
)
@click.option(
    "--batch-wait-ms",
    default=10.0,
    type=float,
    help="Static batching: how long a batch waits for more requests after the first came.",
)
@click.option("--fault", default=None, type=click.Choice(FAULT_KINDS), help="Fault to inject.")
@click.option("--fault-every", default=1, type=int, help="Every Nth generation request gets --fault.")
@click.option("--fault-after", default=3, type=int, help="Tokens sent before a mid-stream fault.")
@click.option("--hang-s", default=30.0, type=float, help="How long no_tokens and slow_headers stall.")
@click.option(
    "--events-per-write", default=16, type=int, help="Fast mode (--itl-ms 0): SSE events per transport write."
)
@click.option(
    "--truth-file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every finished request's truth record to this JSONL file.",
)
@click.option("--truth-keep", default=100_000, type=int, help="Truth records kept in memory for /sim/truth.")
def main(**options: object) -> None:
    """Serve an OpenAI-compatible API with scripted latency, recording the true timing of each request."""
    try:
        config = SimConfig(**options)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from servers.sim.app import run

    try:
        run(config)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {config.host}:{config.port}: {exc}") from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
