"""Load a model's fast tokenizer (`tokenizers` only: no transformers) and count tokens with it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer


def tokenizer_file(path: str | Path) -> Path:
    """The `tokenizer.json` that `path` names: the file itself or the one inside a model directory."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        candidate = candidate / "tokenizer.json"
    if not candidate.is_file():
        raise ValueError(f"no tokenizer at {path}: expected a tokenizer.json or a model directory with one")
    return candidate.resolve()


@lru_cache(maxsize=8)
def _load(resolved: Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(resolved))
    except Exception as exc:  # tokenizers raises plain Exception subclasses for bad files
        raise ValueError(f"cannot load tokenizer {resolved}: {exc}") from exc


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load (once per file) the tokenizer at `path`: a `tokenizer.json` or a model directory."""
    return _load(tokenizer_file(path))


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Number of tokens in `text`, without special tokens (what a completion adds to the sequence)."""
    return len(tokenizer.encode(text, add_special_tokens=False).ids)
