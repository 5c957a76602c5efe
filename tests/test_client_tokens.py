"""One tokenizer loader: the client's token-count fallback, workloads and parity fail the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.client.tokens import TokenizerCounter
from loadgen.compare.parity import Tokens
from loadgen.errors import ConfigError
from loadgen.workloads.tokenizer import count_tokens, load_tokenizer
from tests.fixtures.procs import run_loadgen
from tests.test_workload_bad_input import one_line_error


@pytest.fixture
def broken_tokenizer(tmp_path: Path) -> Path:
    path = tmp_path / "tokenizer.json"
    path.write_text("{")
    return path


def test_a_path_without_a_tokenizer_fails_alike_for_counter_and_workloads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as by_workloads:
        load_tokenizer(tmp_path)
    with pytest.raises(ConfigError) as by_counter:
        TokenizerCounter(tmp_path)
    assert str(by_counter.value) == str(by_workloads.value)
    assert str(by_counter.value).startswith(f"no tokenizer at {tmp_path}")


def test_a_file_that_does_not_load_is_a_config_error_everywhere(broken_tokenizer: Path) -> None:
    for load in (load_tokenizer, TokenizerCounter, Tokens):
        with pytest.raises(ConfigError, match="cannot load tokenizer"):
            load(broken_tokenizer)


def test_parity_compares_characters_where_there_is_no_tokenizer(tmp_path: Path) -> None:
    assert Tokens(tmp_path).unit == "characters"


def test_counter_counts_as_the_workloads_do(smollm2_dir: Path) -> None:
    text = "The capital of France is Paris."
    assert TokenizerCounter(smollm2_dir).count(text) == count_tokens(load_tokenizer(smollm2_dir), text) == 7


def test_cli_reports_a_broken_tokenizer_in_one_line(broken_tokenizer: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    where = ["--base-url", "http://127.0.0.1:9", "--model", "m", "--dataset-path", str(prompts)]
    proc = run_loadgen("run", *where, "--tokenizer", str(broken_tokenizer), timeout=60)
    one_line_error(proc, f"cannot load tokenizer {broken_tokenizer}")
