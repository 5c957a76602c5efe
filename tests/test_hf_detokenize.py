"""The HF server's detokenizers agree with a full decode and with the two-decode (window) algorithm.

Random id sequences (byte-level pieces that split or break characters, special tokens) and real text,
with the real SmolLM2 tokenizer (byte-level BPE) and a small SentencePiece-style tokenizer with byte
fallback and a leading-space strip (Llama 2 / Mistral style). Random ids leave out `<0xNN>` byte
pieces: random bytes form invalid UTF-8, which `ByteFallback` turns into one U+FFFD per byte, so the
text depends on where a window starts and neither algorithm can equal a full decode; their multi-byte
coverage comes from encoded text (emoji, CJK), whose bytes are valid.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

from servers.hf.detokenize import (
    ByteLevelDetokenizer,
    Detokenizer,
    StreamDetokenizer,
    WindowDetokenizer,
    byte_table,
    new_detokenizer,
    stream_available,
)

TEXTS = [
    "héllo 世界 🙂🎉 naïve — ok",
    "日本語のテキスト",
    "emoji 👩‍👩‍👧 family",
    " plain ascii text, with  double spaces\nand lines",
]
CHARS = "aé世界🙂🎉👩‍👧 \n.,x日本語ñ€"
TRIALS = 400


@pytest.fixture(scope="module")
def smollm2(smollm2_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(smollm2_dir / "tokenizer.json"))


def _byte_fallback_tokenizer() -> Tokenizer:
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for piece in ["▁", "▁Hello", "▁world", "▁the", "H", "e", "l", "o", "a", "é", ".", "x", "▁a", "ñ"]:
        vocab[piece] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tokenizer.add_special_tokens([AddedToken("<s>", special=True), AddedToken("</s>", special=True)])
    return tokenizer


@pytest.fixture(scope="module", params=["smollm2", "byte-fallback"])
def tokenizer(request: pytest.FixtureRequest, smollm2: Tokenizer) -> Tokenizer:
    return smollm2 if request.param == "smollm2" else _byte_fallback_tokenizer()


def _deltas(detok: Detokenizer, ids: list[int]) -> list[str]:
    return [detok.step(token) for token in ids] + [detok.flush()]


def _special_ids(tokenizer: Tokenizer) -> list[int]:
    return sorted(int(i) for i in tokenizer.get_added_tokens_decoder())


def _is_fallback_byte(piece: str | None) -> bool:
    """A `<0xNN>` byte-fallback piece: random ones form invalid UTF-8, which no full decode can match."""
    return piece is not None and len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")


def _cases(tokenizer: Tokenizer, seed: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, generated ids) pairs: random ids, random characters with specials, real text."""
    rng = random.Random(seed)
    vocab = [i for i in range(tokenizer.get_vocab_size()) if not _is_fallback_byte(tokenizer.id_to_token(i))]
    special = _special_ids(tokenizer)
    say = tokenizer.encode("Say:", add_special_tokens=False).ids
    cases = []
    for trial in range(TRIALS):
        if trial % 2 == 0:
            prompt = [rng.choice(vocab) for _ in range(rng.randint(0, 8))]
            ids = [rng.choice(vocab) for _ in range(rng.randint(1, 40))]
        else:
            text = "".join(rng.choice(CHARS) for _ in range(rng.randint(1, 30)))
            prompt, ids = say, tokenizer.encode(text, add_special_tokens=False).ids
            for _ in range(rng.randint(0, 3)):
                ids.insert(rng.randrange(len(ids) + 1), rng.choice(special))
        cases.append((prompt, ids))
    return cases


def test_a_byte_level_tokenizer_gets_the_byte_table_detokenizer(smollm2: Tokenizer) -> None:
    assert isinstance(new_detokenizer(smollm2, [1, 2, 3]), ByteLevelDetokenizer)


def test_a_byte_fallback_tokenizer_gets_the_stream_detokenizer() -> None:
    tokenizer = _byte_fallback_tokenizer()
    assert byte_table(tokenizer) is None
    assert stream_available(tokenizer)
    assert isinstance(new_detokenizer(tokenizer, [1, 2, 3]), StreamDetokenizer)


def _cumulative(deltas: list[str]) -> list[str]:
    out, text = [], ""
    for delta in deltas:
        text += delta
        out.append(text)
    return out


def test_byte_level_text_equals_the_full_decode_and_comes_no_later_than_the_windows(
    smollm2: Tokenizer,
) -> None:
    table = byte_table(smollm2)
    assert table is not None
    for prompt, ids in _cases(smollm2, seed=5):
        fast = _cumulative(_deltas(ByteLevelDetokenizer(table), ids))
        window = _cumulative(_deltas(WindowDetokenizer(smollm2, prompt), ids))
        assert fast[-1] == window[-1] == smollm2.decode(ids, skip_special_tokens=True), ids
        assert all(
            fast_text.startswith(window_text) for fast_text, window_text in zip(fast, window, strict=True)
        )


def test_byte_level_real_text_has_no_replacement_characters(smollm2: Tokenizer) -> None:
    table = byte_table(smollm2)
    assert table is not None
    for text in TEXTS:
        ids = smollm2.encode(text, add_special_tokens=False).ids
        deltas = _deltas(ByteLevelDetokenizer(table), ids)
        assert "".join(deltas) == text
        assert not any("\ufffd" in delta for delta in deltas)


def test_byte_level_ids_past_the_vocabulary_add_no_text(smollm2: Tokenizer) -> None:
    table = byte_table(smollm2)
    assert table is not None
    detok = ByteLevelDetokenizer(table)
    assert detok.step(smollm2.get_vocab_size() + 7) == ""
    assert smollm2.decode([smollm2.get_vocab_size() + 7]) == ""


def test_a_decoder_that_is_not_a_raw_tokenizer_gets_the_window_detokenizer(smollm2: Tokenizer) -> None:
    class Wrapper:
        def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
            return smollm2.decode(ids, skip_special_tokens=skip_special_tokens)

    assert not stream_available(Wrapper())
    assert isinstance(new_detokenizer(Wrapper(), [1]), WindowDetokenizer)


def test_stream_deltas_equal_window_deltas_on_random_ids(smollm2: Tokenizer) -> None:
    # Byte-level BPE only: with a leading-space `Strip` decoder the window algorithm drops the space of
    # a lone "▁" after a skipped special token (its window starts there), which the stream keeps.
    for prompt, ids in _cases(smollm2, seed=7):
        stream = _deltas(StreamDetokenizer(smollm2, prompt), ids)
        assert stream == _deltas(WindowDetokenizer(smollm2, prompt), ids), (prompt, ids)


def test_stream_deltas_concatenate_to_the_full_decode(tokenizer: Tokenizer) -> None:
    for _, ids in _cases(tokenizer, seed=11):
        # No prompt: in place after one, a leading space that a full decode strips is part of the text.
        joined = "".join(_deltas(StreamDetokenizer(tokenizer, []), ids))
        assert joined == tokenizer.decode(ids, skip_special_tokens=True), ids


@pytest.mark.parametrize("text", TEXTS)
def test_real_text_streams_in_place_after_the_prompt(smollm2: Tokenizer, text: str) -> None:
    prompt = smollm2.encode("Say:", add_special_tokens=False).ids
    ids = smollm2.encode(text, add_special_tokens=False).ids
    deltas = _deltas(StreamDetokenizer(smollm2, prompt), ids)
    assert deltas == _deltas(WindowDetokenizer(smollm2, prompt), ids)
    assert "".join(deltas) == smollm2.decode(ids)
    assert not any("\ufffd" in delta for delta in deltas)


def test_the_first_token_keeps_its_leading_space_after_the_prompt() -> None:
    tokenizer = _byte_fallback_tokenizer()
    prompt = tokenizer.encode("Hello", add_special_tokens=False).ids
    ids = tokenizer.encode("world", add_special_tokens=False).ids  # "▁", "w", ...: a space in place
    assert tokenizer.decode(ids) == "world"
    assert "".join(_deltas(StreamDetokenizer(tokenizer, prompt), ids)) == " world"


def test_a_prompt_ending_inside_a_character_does_not_leak_into_the_output(smollm2: Tokenizer) -> None:
    emoji = smollm2.encode("🙂", add_special_tokens=False).ids
    assert len(emoji) > 1
    prompt = smollm2.encode("Say:", add_special_tokens=False).ids + emoji[:-1]
    ids = smollm2.encode(" ok", add_special_tokens=False).ids
    deltas = _deltas(StreamDetokenizer(smollm2, prompt), ids)
    assert deltas == _deltas(WindowDetokenizer(smollm2, prompt), ids)
    assert "Say" not in "".join(deltas)


def test_flush_shows_a_trailing_incomplete_character_as_decoding_does(smollm2: Tokenizer) -> None:
    emoji = smollm2.encode("🙂", add_special_tokens=False).ids
    ids = smollm2.encode("ok", add_special_tokens=False).ids + emoji[:-1]
    detok = StreamDetokenizer(smollm2, [])
    steps = [detok.step(token) for token in ids]
    assert steps[-1] == ""
    assert "".join(steps) + detok.flush() == smollm2.decode(ids)
    assert detok.flush() == ""


def test_a_failing_stream_hands_the_row_to_the_window_detokenizer(smollm2: Tokenizer) -> None:
    class Broken:
        def step(self, tokenizer: Tokenizer, token_id: int) -> str | None:
            raise RuntimeError("invalid prefix")

    prompt = smollm2.encode("Say:", add_special_tokens=False).ids
    ids = smollm2.encode(" héllo 🙂 world", add_special_tokens=False).ids
    detok = StreamDetokenizer(smollm2, prompt)
    head = [detok.step(token) for token in ids[:3]]
    detok._stream = Broken()  # noqa: SLF001
    deltas = head + _deltas(detok, ids[3:])
    assert "".join(deltas) == smollm2.decode(ids)
    assert deltas == _deltas(WindowDetokenizer(smollm2, prompt), ids)
