"""Incremental detokenization: the text each new token adds, correct across multi-byte characters.

One token can hold part of a UTF-8 character (byte-level BPE splits emoji and CJK characters across
tokens), and a token's text can depend on its neighbours (leading-space and merge rules). So, as vLLM
and TGI do, each step decodes a short window twice — up to the last emitted token and up to the new
one — and emits the difference, holding it back while it ends in an incomplete character (U+FFFD).
The concatenated deltas equal decoding all the tokens at once.
"""

from __future__ import annotations

from typing import Protocol

_REPLACEMENT = "\ufffd"
PROMPT_CONTEXT_TOKENS = 5
"""Prompt tokens kept as left context, so the first generated token decodes as it would in place."""


class Decoder(Protocol):
    """The part of a `tokenizers.Tokenizer` this module uses."""

    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str:
        """Text of `ids`."""
        ...


class IncrementalDetokenizer:
    """Turns one row's generated token ids into text deltas."""

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
