"""From the workload options (`loadgen.settings.workload.WorkloadSettings`) to a `WorkloadSpec`, and
the description of a built workload that a run records (`run.json` -> `workload`).

    spec = workload_spec(settings, num_prompts=..., tokenizer=..., api=..., input_len=..., output_len=...)
    prompts = build_prompts(spec)
    meta = describe_workload(spec, prompts)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Literal

from loadgen.settings.workload import WorkloadSettings
from loadgen.workloads.base import Prompt
from loadgen.workloads.lengths import describe_lengths
from loadgen.workloads.spec import KINDS, WorkloadSpec


def workload_kind(settings: WorkloadSettings) -> Literal["synthetic", "sharegpt", "jsonl"]:
    """The workload the options ask for: `--workload`, else jsonl with `--dataset-path`, else synthetic."""
    kind = str(settings.kind or ("jsonl" if settings.dataset_path else "synthetic"))
    if kind == "synthetic":
        return "synthetic"
    if kind == "sharegpt":
        return "sharegpt"
    if kind == "jsonl":
        return "jsonl"
    raise ValueError(f"unknown workload {kind!r}: choose one of {', '.join(KINDS)}")


def workload_spec(
    settings: WorkloadSettings,
    *,
    num_prompts: int | None,
    tokenizer: str | None,
    api: Literal["completions", "chat"],
    input_len: int | None,
    output_len: int | None,
    seed: int = 0,
) -> WorkloadSpec:
    """The `WorkloadSpec` of the options. `input_len` is the synthetic fixed input length; `output_len`
    the synthetic fixed output length, or for ShareGPT an override of the recorded answers' lengths
    (pass None to keep them); both are left out where a length distribution replaces them."""
    kind = workload_kind(settings)
    synthetic = kind == "synthetic"
    return WorkloadSpec(
        kind=kind,
        num_prompts=num_prompts if kind != "jsonl" else None,
        seed=seed,
        api=api,
        input_len=input_len if synthetic and not settings.input_len_dist else None,
        output_len=output_len if kind != "jsonl" and not settings.output_len_dist else None,
        tokenizer=tokenizer,
        path=settings.dataset_path,
        min_len=settings.min_len,
        max_prompt_len=settings.max_prompt_len,
        max_total_len=settings.max_total_len,
        max_answer_len=settings.max_answer_len,
        input_len_dist=settings.input_len_dist,
        output_len_dist=settings.output_len_dist,
        max_output_len=settings.max_output_len,
    )


def workload_name(spec: WorkloadSpec) -> str:
    """A short human name of the traffic, e.g. `ShareGPT lengths` or `synthetic 128 in / 32 out`."""
    if spec.kind == "sharegpt":
        name = "ShareGPT lengths"
        if spec.max_answer_len is not None:
            name += f" (answers of at most {spec.max_answer_len} tokens)"
    elif spec.kind == "jsonl":
        name = f"prompts of {spec.path}"
    else:
        inputs = spec.input_len_dist or str(spec.input_len)
        outputs = spec.output_len_dist or str(spec.output_len)
        name = f"synthetic {inputs} in / {outputs} out"
    return name + (f", output capped at {spec.max_output_len}" if spec.max_output_len else "")


def describe_workload(
    spec: WorkloadSpec, prompts: Sequence[Prompt], default_output: int | None = None
) -> dict[str, Any]:
    """The workload as recorded in `run.json`: its settings, name and the lengths of the prompts built.

    `default_output` is the output length of prompts that bring none (the run's `max_tokens`).
    """
    settings = {k: v for k, v in asdict(spec).items() if v is not None}
    if spec.kind != "sharegpt":
        for key in ("min_len", "max_prompt_len", "max_total_len", "max_answer_len"):
            settings.pop(key, None)
    if spec.kind == "sharegpt" and spec.path is None:
        from loadgen.workloads.sharegpt import default_dataset_path

        settings["path"] = str(default_dataset_path())
    if spec.kind == "synthetic" and (spec.input_len_dist or spec.output_len_dist):
        from loadgen.workloads.synthetic import draw_lengths

        settings["clamped"] = draw_lengths(spec)[2]  # the same seeded draw the prompts were built from
    inputs = [p.prompt_tokens for p in prompts if p.prompt_tokens is not None]
    outputs = [p.output_tokens if p.output_tokens is not None else default_output for p in prompts]
    return {
        **settings,
        "name": workload_name(spec),
        "num_prompts": len(prompts),
        "prompt_lengths": {
            "input": describe_lengths(inputs),
            "output": describe_lengths([o for o in outputs if o is not None]),
        },
    }
