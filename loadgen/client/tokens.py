"""Output-token counting when a server does not report `usage`: a flagged fallback.

`--tokenizer` takes a `tokenizer.json` file or a model directory that holds one; it is loaded by
`loadgen.workloads.tokenizer.load_tokenizer`, the one loader (and failure message) of the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from loadgen.workloads.tokenizer import count_tokens, load_tokenizer


class TokenCounter(Protocol):
    """Counts the tokens of a piece of text."""

    def count(self, text: str) -> int:
        """The number of tokens in `text`."""
        ...


class TokenizerCounter:
    """A `TokenCounter` backed by a Hugging Face `tokenizers` tokenizer.json.

    Raises `ConfigError` (one line) when `path` holds no loadable tokenizer.
    """

    def __init__(self, path: str | Path) -> None:
        self._tokenizer = load_tokenizer(path)

    def count(self, text: str) -> int:
        """The number of tokens in `text`, without special tokens."""
        return count_tokens(self._tokenizer, text)
