"""Incremental detokenization: the text each new token adds, correct across multi-byte characters.

One token can hold part of a UTF-8 character (byte-level BPE splits emoji and CJK characters across
tokens), and a token's text can depend on its neighbours (leading-space and merge rules). So, as vLLM
and TGI do, each step decodes a short window twice — up to the last emitted token and up to the new
one — and emits the difference, holding it back while it ends in an incomplete character (U+FFFD).
The concatenated deltas equal decoding all the tokens at once.

`new_detokenizer` picks the cheapest exact way for the decoder at hand (this runs once per row per
decoding step on the generate thread):

- `ByteLevelDetokenizer`: a raw `tokenizers.Tokenizer` whose decoder is byte-level (GPT-2, SmolLM2,
  Llama 3, Qwen) decodes by joining each token's bytes, so a per-token byte table and Python's
  incremental UTF-8 decoder (which holds back an incomplete character itself) give the same text with
  no call into the tokenizer per step;
- `StreamDetokenizer`: another raw `tokenizers.Tokenizer` with `tokenizers.decoders.DecodeStream`
  (tokenizers >= 0.21), which runs the window algorithm in Rust, one call per token;
- `WindowDetokenizer`: the window algorithm in Python, for any other decoder.
"""

from __future__ import annotations

import codecs
from typing import Any, Protocol


def _load_stream() -> tuple[Any, Any, Any]:
    """`tokenizers.Tokenizer`, `decoders.DecodeStream`, `decoders.ByteLevel`; None for each one absent."""
    try:
        from tokenizers import Tokenizer
        from tokenizers.decoders import ByteLevel
    except ImportError:  # no tokenizers
        return None, None, None
    try:
        from tokenizers.decoders import DecodeStream
    except ImportError:  # tokenizers older than 0.21
        return Tokenizer, None, ByteLevel
    return Tokenizer, DecodeStream, ByteLevel


_RawTokenizer, _DecodeStream, _ByteLevel = _load_stream()
_BYTE_TABLES: dict[int, tuple[Any, list[bytes] | None]] = {}
"""Per tokenizer (by id, holding the tokenizer so the id stays its own): its byte table, or None."""

_REPLACEMENT = "\ufffd"
PROMPT_CONTEXT_TOKENS = 5
"""Prompt tokens kept as left context, so the first generated token decodes as it would in place."""


class Decoder(Protocol):
    """The part of a `tokenizers.Tokenizer` this module uses."""

    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str:
        """Text of `ids`."""
        ...


class Detokenizer(Protocol):
    """One row's incremental detokenizer."""

    def step(self, token_id: int) -> str:
        """Add one token; return the text it completes (possibly empty)."""
        ...

    def flush(self) -> str:
        """The text still held back (an incomplete character at the end), as decoding shows it."""
        ...


def stream_available(decoder: Decoder) -> bool:
    """True when `decoder` is a raw `tokenizers.Tokenizer` and `DecodeStream` exists."""
    return _DecodeStream is not None and _RawTokenizer is not None and isinstance(decoder, _RawTokenizer)


def byte_table(decoder: Decoder) -> list[bytes] | None:
    """Each token id's bytes (b"" for special tokens), when `decoder` decodes by joining them; else None.

    That holds for a raw `tokenizers.Tokenizer` whose decoder is `ByteLevel` and whose added tokens
    are all special (skipped). Built once per tokenizer (a fraction of a second for 128k tokens).
    """
    if _RawTokenizer is None or not isinstance(decoder, _RawTokenizer):
        return None
    cached = _BYTE_TABLES.get(id(decoder))
    if cached is not None and cached[0] is decoder:
        return cached[1]
    table = _build_byte_table(decoder)
    _BYTE_TABLES[id(decoder)] = (decoder, table)
    return table


def _build_byte_table(tokenizer: Any) -> list[bytes] | None:
    if _ByteLevel is None or not isinstance(tokenizer.decoder, _ByteLevel):
        return None
    added = tokenizer.get_added_tokens_decoder()
    if not all(token.special for token in added.values()):
        return None  # a non-special added token's text does not go through the byte map
    char_to_byte = {chr(c): b for b, c in _byte_level_chars().items()}
    table: list[bytes] = []
    for token_id in range(tokenizer.get_vocab_size(with_added_tokens=True)):
        piece = None if token_id in added else tokenizer.id_to_token(token_id)
        if piece is None:
            table.append(b"")  # special (skipped) or unused id: decodes to nothing
            continue
        try:
            table.append(bytes([char_to_byte[char] for char in piece]))
        except KeyError:
            return None  # a piece outside the byte alphabet: not a plain byte-level vocabulary
    return table


def _byte_level_chars() -> dict[int, int]:
    """GPT-2's byte -> code point map that byte-level BPE vocabularies are written in."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = 256 + extra
            extra += 1
    return mapping


def new_detokenizer(decoder: Decoder, prompt_ids: list[int]) -> Detokenizer:
    """The fastest exact detokenizer for `decoder`, primed with the end of `prompt_ids`."""
    table = byte_table(decoder)
    if table is not None:
        return ByteLevelDetokenizer(table)
    if stream_available(decoder):
        return StreamDetokenizer(decoder, prompt_ids)
    return WindowDetokenizer(decoder, prompt_ids)


class ByteLevelDetokenizer:
    """Deltas of a byte-level vocabulary: each token's bytes through an incremental UTF-8 decoder.

    A byte-level token's text does not depend on its neighbours (a leading space is its own byte),
    so no prompt context is needed. The decoder holds back an incomplete character until a later
    token completes it, and `flush` shows what is left as U+FFFD, as a full decode does.
    """

    __slots__ = ("_table", "_size", "_decode")

    def __init__(self, table: list[bytes]) -> None:
        self._table = table
        self._size = len(table)
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode

    def step(self, token_id: int) -> str:
        """Add one token; return the text it completes (possibly empty)."""
        if 0 <= token_id < self._size:
            return self._decode(self._table[token_id])
        return ""  # an id past the tokenizer's vocabulary (a padded embedding): no text

    def flush(self) -> str:
        """The text still held back (an incomplete character at the end), as decoding shows it."""
        return self._decode(b"", True)


class WindowDetokenizer:
    """Turns one row's generated token ids into text deltas, decoding a window twice per step."""

    __slots__ = ("_decoder", "_ids", "_prefix_offset", "_read_offset")

    def __init__(self, decoder: Decoder, prompt_ids: list[int]) -> None:
        context = prompt_ids[-PROMPT_CONTEXT_TOKENS:]
        self._decoder = decoder
        self._ids = list(context)
        self._prefix_offset = 0
        self._read_offset = len(context)

    def step(self, token_id: int) -> str:
        """Add one token; return the text it completes (possibly empty)."""
        self._ids.append(token_id)
        return self._delta(final=False)

    def flush(self) -> str:
        """The text still held back (an incomplete character at the end), as decoding shows it."""
        return self._delta(final=True)

    def _delta(self, *, final: bool) -> str:
        ids = self._ids
        if self._read_offset >= len(ids):
            return ""
        decode = self._decoder.decode
        prefix_text = decode(ids[self._prefix_offset : self._read_offset], skip_special_tokens=True)
        new_text = decode(ids[self._prefix_offset :], skip_special_tokens=True)
        if new_text.endswith(_REPLACEMENT) and not final:
            return ""  # an incomplete character: wait for the token that completes it
        delta = new_text[len(prefix_text) :] if len(new_text) > len(prefix_text) else ""
        # Advance even when the token added nothing (a skipped special token), so the window stays short.
        self._prefix_offset = self._read_offset
        self._read_offset = len(ids)
        return delta


IncrementalDetokenizer = WindowDetokenizer
"""The original name of the two-decode detokenizer."""


class StreamDetokenizer:
    """The same deltas as `WindowDetokenizer`, from one `DecodeStream.step` call (Rust) per token.

    The stream is primed by stepping the last prompt tokens and dropping their text. It returns None
    while the new tokens add no complete text; those tokens are kept (`_pending`, with the tokens of
    the last emitted text as `_context`) only so that `flush` can show them as a full decode would.
    If the stream ever fails (its prefix no longer matches), or the prompt ends inside a character,
    the row uses `WindowDetokenizer` instead.
    """

    __slots__ = ("_tokenizer", "_stream", "_context", "_pending", "_fallback")

    def __init__(self, tokenizer: Any, prompt_ids: list[int]) -> None:
        assert _DecodeStream is not None
        context = prompt_ids[-PROMPT_CONTEXT_TOKENS:]
        self._tokenizer = tokenizer
        self._stream = _DecodeStream(skip_special_tokens=True)
        step = self._stream.step
        last: str | None = ""
        for token_id in context:  # prime with left context; its own text is not part of the output
            last = step(tokenizer, token_id)
        self._context: list[int] = list(context)
        self._pending: list[int] = []
        self._fallback: WindowDetokenizer | None = None
        if last is None and tokenizer.decode(context, skip_special_tokens=True).endswith(_REPLACEMENT):
            # The prompt ends inside a character: the stream would emit that prompt piece with the
            # first token's text. Rare (token-id prompts only), so this row uses the Python windows.
            self._fallback = WindowDetokenizer(tokenizer, prompt_ids)

    def step(self, token_id: int) -> str:
        """Add one token; return the text it completes (possibly empty)."""
        if self._fallback is not None:
            return self._fallback.step(token_id)
        self._pending.append(token_id)
        try:
            text = self._stream.step(self._tokenizer, token_id)
        except Exception:  # noqa: BLE001 - the Rust stream rejected its state: continue in Python
            return self._fall_back()
        if text is None:
            return ""
        self._context = self._pending
        self._pending = []
        return str(text)

    def flush(self) -> str:
        """The text still held back (an incomplete character at the end), as decoding shows it."""
        if self._fallback is not None:
            return self._fallback.flush()
        if not self._pending:
            return ""
        ids = self._context + self._pending
        decode = self._tokenizer.decode
        prefix_text: str = decode(self._context, skip_special_tokens=True)
        new_text: str = decode(ids, skip_special_tokens=True)
        self._context = ids
        self._pending = []
        return new_text[len(prefix_text) :] if len(new_text) > len(prefix_text) else ""

    def _fall_back(self) -> str:
        """Replay the undecided tokens through a `WindowDetokenizer` that takes over this row."""
        fallback = WindowDetokenizer(self._tokenizer, self._context)
        self._fallback = fallback
        return "".join([fallback.step(token_id) for token_id in self._pending])
