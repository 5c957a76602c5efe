"""The `loadgen` command line: a click group (`main`) with the `run` command.

Other commands join with one line, `main.add_command(...)`. `--help` stays fast: the runner, numpy
and prometheus are imported inside the command. Bad arguments end in a one-line error (exit 2),
never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from loadgen.exit_status import DEFAULT_MAX_ERROR_RATE
from loadgen.workload_cli import workload_options


class OneLineErrors(click.Group):
    """A click group whose usage and configuration errors print as one line, not a traceback."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> NoReturn:  # type: ignore[override]
        """Run the CLI; exit 2 with `loadgen: error: ...` on bad input."""
        try:
            rv = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("loadgen: aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"loadgen: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except (ValueError, FileNotFoundError, OSError) as exc:
            click.echo(f"loadgen: error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("loadgen: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """servebench load generator: exact streaming latency and throughput of OpenAI-compatible servers."""


@main.command("run")
@click.option("--base-url", help="Server base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is fine).")
@click.option("--sim", is_flag=True, help="Start the embedded scripted server and run against it.")
@click.option("--sim-arg", multiple=True, help="Argument for the scripted server, e.g. '--ttft-ms 50'.")
@click.option("--target-name", help="Label for this target in results (default: the host:port, or 'sim').")
@click.option("--model", help="Model name to request (default: the server's first model).")
@click.option("--api", type=click.Choice(["completions", "chat"]), default="completions", show_default=True)
@click.option("--stream/--no-stream", default=True, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--ignore-eos", is_flag=True, help="Ask the server to ignore EOS (vLLM) so lengths are exact.")
@click.option("--min-tokens", type=click.IntRange(min=0), help="Minimum output tokens (vLLM).")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Choices per request (parallel sampling; needs --temperature above 0). Every choice's tokens count.",
)
@click.option("--sampling-seed", type=int, help="`seed` sent in each request body.")
@click.option("--no-usage", is_flag=True, help="Do not ask for stream_options.include_usage.")
@click.option(
    "--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Env var holding the API key."
)
@click.option("--extra-body", help="JSON object merged into every request body.")
@click.option("--header", multiple=True, help="Extra request header 'Name: value' (repeatable).")
@click.option("--save-text", is_flag=True, help="Keep each response's text in requests.jsonl.")
@click.option(
    "--tokenizer", help="tokenizer.json or model dir: prompt lengths, and output counts without usage."
)
@workload_options
@click.option("--num-prompts", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--input-len", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--output-len", type=click.IntRange(min=1), help="Output tokens per prompt (default: --max-tokens)."
)
@click.option("--concurrency", help="Closed loop: comma-separated concurrency levels, e.g. 1,4,16.")
@click.option("--rate", help="Open loop: comma-separated request rates (req/s), e.g. 1,2,4.")
@click.option(
    "--arrival", type=click.Choice(["poisson", "constant", "gamma"]), default="poisson", show_default=True
)
@click.option("--burstiness", type=float, default=1.0, show_default=True, help="Gamma shape (1 = Poisson).")
@click.option("--max-concurrency", type=click.IntRange(min=1), help="Open loop: cap on requests in flight.")
@click.option("--num-requests", type=click.IntRange(min=1), help="Measured requests per level.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Measured seconds per level.")
@click.option(
    "--warmup", type=click.IntRange(min=0), default=0, show_default=True, help="Warm-up requests per level."
)
@click.option(
    "--preopen", type=click.IntRange(min=0), help="Connections to open first (default: the concurrency)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the schedule and workload.")
@click.option("--connect-timeout", type=float, default=10.0, show_default=True)
@click.option("--ttft-timeout", type=float, default=300.0, show_default=True)
@click.option("--idle-timeout", type=float, default=120.0, show_default=True)
@click.option("--request-timeout", type=float, default=900.0, show_default=True)
@click.option(
    "--client", "client_kind", type=click.Choice(["fast", "httpx"]), default="fast", show_default=True
)
@click.option(
    "--loop", "loop_kind", type=click.Choice(["auto", "uvloop", "asyncio"]), default="auto", show_default=True
)
@click.option("--slo", multiple=True, help="Service-level objective, e.g. --slo ttft:500 --slo tpot:50 (ms).")
@click.option("--percentiles", default="50,90,95,99", show_default=True)
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Default: results/<timestamp>."
)
@click.option(
    "--metrics-port", type=click.IntRange(min=0, max=65535), help="Serve live Prometheus metrics here."
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress line on stderr.")
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MAX_ERROR_RATE,
    show_default=True,
    help="Largest share of failed measured requests that still exits 0 (e.g. 0.01).",
)
@click.option(
    "--server-metrics-interval",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds between scrapes of the server's /metrics during each level (0: off).",
)
def run_command(**opts: Any) -> None:
    """Send load to one OpenAI-compatible server and measure it; one result per level.

    \b
    Exit status: 0 ok; 2 bad input or server unreachable before the run; 4 failed requests above
    --max-error-rate; 5 no measured request succeeded; 6 results could not be written (full disk;
    whole lines kept); 130 interrupted.
    """
    from loadgen.cli_run import execute

    execute(opts, argv=sys.argv)


from loadgen.compare.cli import compare_command, demo_command  # noqa: E402  (side-by-side comparison)
from loadgen.report.cli import report_command  # noqa: E402

main.add_command(compare_command)
main.add_command(demo_command)
main.add_command(report_command)
