"""The workload's command-line options, shared by `loadgen run`, `loadgen compare` and `loadgen demo`
(same names and defaults everywhere). Light on purpose: `--help` imports no tokenizer; a length spec is
checked by `loadgen.workloads.lengths` while the arguments are parsed."""

from __future__ import annotations

from typing import Any

import click

WORKLOAD_KINDS = ("synthetic", "sharegpt", "jsonl")
LENGTH_FORMS = "fixed:N | uniform:LO,HI | exponential:MEAN[,MAX] | normal:MEAN,STD"
"""The length specs `loadgen.workloads.lengths` parses (its `FORMS`)."""


def _check_dist(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Reject a length spec that cannot be sampled while the arguments are parsed (one line, exit 2)."""
    if value is None:
        return None
    from loadgen.workloads.lengths import parse_length_dist

    try:
        return parse_length_dist(value, "--" + str(param.name).replace("_", "-")).spec
    except ValueError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[-1], ctx, param) from None


def workload_options(func: Any) -> Any:
    """Add the workload options (same names and defaults on every command)."""
    options = [
        click.option(
            "--workload",
            type=click.Choice(WORKLOAD_KINDS),
            help="Prompt source [default: jsonl with --dataset-path, else synthetic].",
        ),
        click.option("--dataset-path", help="JSONL prompts file (jsonl) or ShareGPT JSON (sharegpt)."),
        click.option(
            "--input-len-dist",
            callback=_check_dist,
            help=f"Synthetic: input lengths drawn per prompt (seeded by --seed): {LENGTH_FORMS}.",
        ),
        click.option(
            "--output-len-dist",
            callback=_check_dist,
            help=f"Synthetic: output lengths (max_tokens) drawn per prompt: {LENGTH_FORMS}.",
        ),
        click.option(
            "--max-output-len",
            type=click.IntRange(min=1),
            help="Cap every prompt's output length (e.g. ShareGPT answers) at this many tokens.",
        ),
        click.option(
            "--min-len",
            type=click.IntRange(min=1),
            default=4,
            show_default=True,
            help="ShareGPT: skip conversations whose prompt or answer is shorter (tokens).",
        ),
        click.option(
            "--max-prompt-len",
            type=click.IntRange(min=1),
            default=1024,
            show_default=True,
            help="ShareGPT: skip conversations whose prompt is longer (tokens).",
        ),
        click.option(
            "--max-total-len",
            type=click.IntRange(min=1),
            default=2048,
            show_default=True,
            help="ShareGPT: skip conversations whose prompt plus answer is longer (tokens).",
        ),
        click.option(
            "--max-answer-len",
            type=click.IntRange(min=1),
            help="ShareGPT: skip conversations whose answer is longer (tokens; not in vLLM's filter).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
