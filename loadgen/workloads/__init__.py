"""Prompt sources: synthetic prompts of exact token length, ShareGPT conversations, user JSONL."""

from __future__ import annotations

from loadgen.workloads.base import Prompt
from loadgen.workloads.spec import WorkloadSpec
from loadgen.workloads.tokenizer import count_tokens, load_tokenizer

__all__ = ["Prompt", "WorkloadSpec", "build_prompts", "count_tokens", "load_tokenizer"]


def build_prompts(spec: WorkloadSpec) -> list[Prompt]:
    """The prompts `spec` describes; ValueError with a one-line reason when it cannot build them."""
    if spec.kind == "synthetic":
        from loadgen.workloads.synthetic import synthetic_prompts

        return synthetic_prompts(spec)
    if spec.kind == "sharegpt":
        from loadgen.workloads.sharegpt import sharegpt_prompts

        return sharegpt_prompts(spec)
    from loadgen.workloads.jsonl import jsonl_prompts

    return jsonl_prompts(spec)
