"""`WorkloadSettings`: the workload options every command shares (`--workload`, `--dataset-path`,
length distributions and ShareGPT filters), as one typed value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loadgen.settings import table
from loadgen.settings.option import option


@dataclass(frozen=True)
class WorkloadSettings:
    """Where the prompts come from and how their lengths are drawn or filtered."""

    kind: Literal["synthetic", "sharegpt", "jsonl"] | None = option(table.WORKLOAD)
    """None: jsonl with a dataset path, else synthetic (`loadgen.workloads.options.workload_kind`)."""
    dataset_path: str | None = option(table.DATASET_PATH)
    input_len_dist: str | None = option(table.INPUT_LEN_DIST)
    output_len_dist: str | None = option(table.OUTPUT_LEN_DIST)
    max_output_len: int | None = option(table.MAX_OUTPUT_LEN)
    min_len: int = option(table.MIN_LEN)
    max_prompt_len: int = option(table.MAX_PROMPT_LEN)
    max_total_len: int = option(table.MAX_TOTAL_LEN)
    max_answer_len: int | None = option(table.MAX_ANSWER_LEN)
