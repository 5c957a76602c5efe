"""What a comparison sends: the workload its options describe (synthetic, ShareGPT or JSONL, with
length distributions and caps), the variance sweep's levels, and the demo's realistic level.

Built before any server is started where the tokenizer is known, so bad input (a ShareGPT file with
no usable conversation, a JSONL line without a prompt) ends the command in one line first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from loadgen.compare.levels import SweepLevel
from loadgen.compare.plan import ComparePlan
from loadgen.compare.variance import SPREADS, SWEEP_NAMES, variance_levels
from loadgen.errors import ConfigError
from loadgen.run_config import LoadSpec
from loadgen.settings.compare import CompareSettings
from loadgen.settings.workload import WorkloadSettings
from loadgen.workloads import build_prompts
from loadgen.workloads.base import Prompt
from loadgen.workloads.options import describe_workload, workload_kind, workload_spec

REALISTIC_TAG = "sharegpt"


@dataclass
class CompareWorkload:
    """The sweep's prompts (also the fixed batches'), their description, and levels of their own."""

    prompts: list[Prompt]
    description: dict[str, Any]
    levels: list[SweepLevel] | None = None
    tokenizer: str | None = None


def prompt_count(plan: ComparePlan) -> int:
    """Prompts the sweep needs: the largest level (warm-up included), a fixed batch, or 8."""
    loads = plan.loads()
    return max(
        [*(load.warmup_requests + (load.num_requests or 0) for load in loads), *plan.offline_batches, 8]
    )


def _build(
    workload: WorkloadSettings,
    count: int,
    tokenizer: str | None,
    api: Literal["completions", "chat"],
    seed: int,
    lengths: tuple[int | None, int | None],
) -> tuple[list[Prompt], dict[str, Any]]:
    """The prompts and their description; `lengths` are the synthetic input and output lengths."""
    input_len, output_len = lengths
    kind = workload_kind(workload)
    spec = workload_spec(
        workload,
        num_prompts=count,
        tokenizer=tokenizer,
        api=api,
        input_len=input_len,
        output_len=output_len if kind == "synthetic" else None,
        seed=seed,
    )
    prompts = build_prompts(spec)
    return prompts, describe_workload(spec, prompts, output_len)


def _realistic_level(
    settings: CompareSettings, plan: ComparePlan, tokenizer: str | None, api: Literal["completions", "chat"]
) -> SweepLevel:
    """The demo's level of ShareGPT traffic at one concurrency: conversations whose answers are at most
    `realistic_max_answer_len` tokens, each request asking for its whole answer."""
    load = LoadSpec(
        mode="closed",
        concurrency=settings.realistic_concurrency,
        num_requests=settings.realistic_requests,
        warmup_requests=0,
        seed=plan.seed,
        tag=REALISTIC_TAG,
    )
    workload = WorkloadSettings(
        kind="sharegpt",
        dataset_path=settings.realistic_dataset_path,
        max_answer_len=settings.realistic_max_answer_len,
        max_prompt_len=settings.realistic_max_prompt_len,
    )
    prompts, description = _build(workload, load.num_requests or 1, tokenizer, api, plan.seed, (None, None))
    return SweepLevel(load, prompts, description, extra=True)


def build_compare_workload(
    settings: CompareSettings, plan: ComparePlan, tokenizer: str | None, api: Literal["completions", "chat"]
) -> CompareWorkload:
    """Everything a comparison sends, from its settings; ValueError/ConfigError in one line on bad input."""
    workload = settings.workload
    kind = workload_kind(workload)
    if kind in ("synthetic", "sharegpt") and tokenizer is None:
        raise ConfigError(
            f"no tokenizer for the {kind} workload: pass --tokenizer (tokenizer.json or model dir)"
        )
    sweep = settings.sweep
    if sweep is not None and sweep not in SWEEP_NAMES:
        raise ConfigError(f"unknown --sweep {sweep!r}: choose one of {', '.join(SWEEP_NAMES)}")
    lengths = (settings.input_len, settings.output_len)
    prompts, description = _build(workload, prompt_count(plan), tokenizer, api, plan.seed, lengths)
    levels: list[SweepLevel] | None = None
    if settings.variance_spreads and sweep != "output-variance":
        raise ConfigError("--variance-spreads picks the levels of --sweep output-variance: add that sweep")
    if sweep == "output-variance":
        if kind != "synthetic" or workload.output_len_dist:
            raise ConfigError(
                "--sweep output-variance sets the output lengths itself: use the synthetic workload "
                "without --output-len-dist"
            )
        if plan.mode != "closed":
            raise ConfigError("--sweep output-variance runs at one --concurrency level, not at --rate")
        first = plan.loads()[0]
        levels = variance_levels(
            first,
            settings.output_len,
            lambda dist: _build(
                replace(workload, output_len_dist=dist),
                prompt_count(plan),
                tokenizer,
                api,
                plan.seed,
                lengths,
            ),
            settings.variance_spreads or SPREADS,
        )
        if not levels:
            raise ConfigError("--variance-spreads uniform needs an --output-len above 1")
        description = {
            **description,
            "sweep": sweep,
            "output_len_dists": [lvl.workload.get("output_len_dist") for lvl in levels],
        }
    if settings.realistic_level and kind == "synthetic":
        main = levels if levels is not None else [SweepLevel(load, prompts) for load in plan.loads()]
        levels = [*main, _realistic_level(settings, plan, tokenizer, api)]
    return CompareWorkload(prompts, description, levels, tokenizer)
