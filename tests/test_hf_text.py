"""Incremental detokenization and per-row stop handling of the HF server, with the real SmolLM2 tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from servers.hf.detokenize import IncrementalDetokenizer
from servers.hf.params import GenerationParams
from servers.hf.request import GenRequest
from servers.hf.rows import RowState

EOS = 2
MULTIBYTE_TEXTS = [
    "héllo 世界 🙂🎉 naïve — ok",
    "日本語のテキスト",
    "emoji 👩‍👩‍👧 family",
    " plain ascii text",
]


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(smollm2_dir / "tokenizer.json"))


def _row(tokenizer: Tokenizer, prompt_ids: list[int], **params: object) -> RowState:
    request = GenRequest(prompt_ids, GenerationParams(**params))  # type: ignore[arg-type]
    return RowState(request, tokenizer, frozenset({EOS}))


@pytest.mark.parametrize("text", MULTIBYTE_TEXTS)
def test_deltas_concatenate_to_the_full_decode(tokenizer: Tokenizer, text: str) -> None:
    prompt = tokenizer.encode("Say:", add_special_tokens=False).ids
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    detok = IncrementalDetokenizer(tokenizer, prompt)
    deltas = [detok.step(token) for token in ids]
    assert "".join(deltas) + detok.flush() == tokenizer.decode(ids)
    assert not any("\ufffd" in delta for delta in deltas)


def test_a_split_character_is_held_until_complete(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("🙂", add_special_tokens=False).ids
    assert len(ids) > 1, "the emoji must span several byte-level tokens for this test to mean anything"
    detok = IncrementalDetokenizer(tokenizer, [])
    deltas = [detok.step(token) for token in ids]
    assert deltas[:-1] == [""] * (len(ids) - 1)
    assert deltas[-1] == "🙂"


def test_special_tokens_add_no_text(tokenizer: Tokenizer) -> None:
    detok = IncrementalDetokenizer(tokenizer, [])
    assert detok.step(EOS) == ""
    assert detok.step(tokenizer.encode("Hi", add_special_tokens=False).ids[0]) == "Hi"


def _feed(row: RowState, ids: list[int]) -> list[tuple[str, str | None]]:
    out = []
    for token in ids:
        event = row.accept(token, 0)
        out.append((event.text, event.finish.reason if event.finish else None))
        if row.done:
            break
    return out


def test_eos_finishes_the_row_with_stop(tokenizer: Tokenizer) -> None:
    row = _row(tokenizer, [1], max_tokens=10)
    steps = _feed(row, [*tokenizer.encode("Hi", add_special_tokens=False).ids, EOS, 42])
    assert steps[-1] == ("", "stop")
    assert row.finish is not None and row.finish.completion_tokens == len(steps)


def test_ignore_eos_keeps_going_until_max_tokens(tokenizer: Tokenizer) -> None:
    row = _row(tokenizer, [1], max_tokens=3, ignore_eos=True)
    assert [reason for _, reason in _feed(row, [EOS, EOS, EOS, EOS])] == [None, None, "length"]


def test_min_tokens_defers_eos(tokenizer: Tokenizer) -> None:
    row = _row(tokenizer, [1], max_tokens=10, min_tokens=3)
    assert [reason for _, reason in _feed(row, [EOS, EOS, EOS])] == [None, None, "stop"]


def test_stop_string_cuts_the_text_and_is_never_streamed(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("one two three four five", add_special_tokens=False).ids
    row = _row(tokenizer, [1], max_tokens=50, stop=("three",))
    steps = _feed(row, ids)
    text = "".join(t for t, _ in steps)
    assert text == "one two "
    assert steps[-1][1] == "stop"
    assert row.finish is not None and row.finish.stop_reason == "three"


def test_text_is_complete_when_no_stop_string_matches(tokenizer: Tokenizer) -> None:
    sentence = "one two three four"
    ids = tokenizer.encode(sentence, add_special_tokens=False).ids
    row = _row(tokenizer, [1], max_tokens=len(ids), stop=("zebra crossing",))
    steps = _feed(row, ids)
    assert "".join(t for t, _ in steps) == sentence
    assert steps[-1][1] == "length"


def test_ending_a_row_from_outside_flushes_held_text(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("abc def", add_special_tokens=False).ids
    row = _row(tokenizer, [1], max_tokens=50, stop=("zzzzzzzz",))
    streamed = "".join(t for t, _ in _feed(row, ids))
    event = row.end("abort", 0)
    assert streamed + event.text == "abc def"
    assert event.finish is not None and event.finish.reason == "abort"


def test_a_row_without_stop_strings_streams_all_text_and_flushes_at_max_tokens(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("ok 🙂 done 世界", add_special_tokens=False).ids
    cut = len(ids) - 1  # ends inside 界: the length finish shows the incomplete character
    row = _row(tokenizer, tokenizer.encode("Say:", add_special_tokens=False).ids, max_tokens=cut)
    steps = _feed(row, ids)
    assert [reason for _, reason in steps] == [None] * (cut - 1) + ["length"]
    assert "".join(t for t, _ in steps) == tokenizer.decode(ids[:cut])
