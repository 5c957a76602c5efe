"""The `loadgen` command line: a click group (`main`) with the `run` command.

Other commands join with one line, `main.add_command(...)`. `--help` stays fast: the runner, numpy
and prometheus are imported inside the command. Bad arguments end in a one-line error (exit 2),
never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from loadgen.settings.option import click_options, settings_from
from loadgen.settings.run import RunSettings


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
@click_options(RunSettings)
def run_command(**opts: Any) -> None:
    """Send load to one OpenAI-compatible server and measure it; one result per level.

    \b
    Exit status: 0 ok; 2 bad input or server unreachable before the run; 4 failed requests above
    --max-error-rate; 5 no measured request succeeded; 6 results could not be written (full disk;
    whole lines kept); 130 interrupted.
    """
    from loadgen.cli_run import execute

    execute(settings_from(RunSettings, opts), argv=sys.argv)


from loadgen.compare.cli import compare_command, demo_command  # noqa: E402  (side-by-side comparison)
from loadgen.report.cli import report_command  # noqa: E402

main.add_command(compare_command)
main.add_command(demo_command)
main.add_command(report_command)
