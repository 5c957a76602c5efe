"""Prompt sources: synthetic prompts of exact token length, ShareGPT conversations, user JSONL."""

from __future__ import annotations

from dataclasses import replace

from loadgen.workloads.base import Prompt
from loadgen.workloads.spec import WorkloadSpec
from loadgen.workloads.tokenizer import count_tokens, load_tokenizer

__all__ = ["Prompt", "WorkloadSpec", "build_prompts", "count_tokens", "load_tokenizer"]


def build_prompts(spec: WorkloadSpec) -> list[Prompt]:
    """The prompts `spec` describes (output lengths capped at `spec.max_output_len`); ValueError with a
    one-line reason when it cannot build them."""
    prompts = _build(spec)
    cap = spec.max_output_len
    if cap is None:
        return prompts
    return [
        p if p.output_tokens is None or p.output_tokens <= cap else replace(p, output_tokens=cap)
        for p in prompts
    ]


def _build(spec: WorkloadSpec) -> list[Prompt]:
    if spec.kind == "synthetic":
        from loadgen.workloads.synthetic import synthetic_prompts

        return synthetic_prompts(spec)
    if spec.kind == "sharegpt":
        from loadgen.workloads.sharegpt import sharegpt_prompts

        return sharegpt_prompts(spec)
    from loadgen.workloads.jsonl import jsonl_prompts

    return jsonl_prompts(spec)
