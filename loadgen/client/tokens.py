"""Output-token counting when a server does not report `usage`: a flagged fallback.

`--tokenizer` takes a `tokenizer.json` file or a model directory that holds one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from loadgen.errors import ConfigError


class TokenCounter(Protocol):
    """Counts the tokens of a piece of text."""

    def count(self, text: str) -> int:
        """The number of tokens in `text`."""
        ...


class TokenizerCounter:
    """A `TokenCounter` backed by a Hugging Face `tokenizers` tokenizer.json."""

    def __init__(self, path: str | Path) -> None:
        file = Path(path)
        if file.is_dir():
            file = file / "tokenizer.json"
        if not file.is_file():
            raise ConfigError(f"no tokenizer.json at {path}")
        from tokenizers import Tokenizer  # heavy-ish: imported only when asked for

        self._tokenizer = Tokenizer.from_file(str(file))

    def count(self, text: str) -> int:
        """The number of tokens in `text`, without special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
