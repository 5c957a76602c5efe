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
from typing import Any

import click

from loadgen.settings.compare import compare_options, compare_settings, demo_options, demo_settings

COMMON_HELP = {"help_option_names": ["-h", "--help"]}


@click.command("compare", context_settings=COMMON_HELP)
@click.argument("targets", nargs=-1)
@compare_options
def compare_command(**opts: Any) -> None:
    """Compare servers side by side: NAME=URL targets (two or more), or --launch.

    \b
    Exit status: 0 ok; 2 bad input or a target unreachable; 3 a parity gate failed; 4 a target's
    failed requests above --max-error-rate; 5 no measured request succeeded on a target; 130
    interrupted.
    """
    from loadgen.compare.execute import execute

    sys.exit(execute(compare_settings(opts), argv=sys.argv))


@click.command("demo", context_settings=COMMON_HELP)
@demo_options
def demo_command(**opts: Any) -> None:
    """Start vLLM (CPU) and the HF server on the small default model, compare them, write the report."""
    from loadgen.compare.execute import execute

    sys.exit(execute(demo_settings(opts), argv=sys.argv))
