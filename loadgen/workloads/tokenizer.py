"""Load a model's fast tokenizer (`tokenizers` only: no transformers) and count tokens with it.

`load_tokenizer` is the one way loadgen loads a tokenizer (workloads, the client's output-token
fallback, the parity check): a path that holds none, or a file that does not load, is a one-line
`ConfigError` (a `ValueError`) that says which.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer

from loadgen.errors import ConfigError


def find_tokenizer(path: str | Path) -> Path | None:
    """The `tokenizer.json` that `path` names (the file itself or the one inside a model directory), or
    None when there is none."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        candidate = candidate / "tokenizer.json"
    return candidate.resolve() if candidate.is_file() else None


def tokenizer_file(path: str | Path) -> Path:
    """The `tokenizer.json` that `path` names: the file itself or the one inside a model directory."""
    found = find_tokenizer(path)
    if found is None:
        raise ConfigError(f"no tokenizer at {path}: expected a tokenizer.json or a model directory with one")
    return found


@lru_cache(maxsize=8)
def _load(resolved: Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(resolved))
    except Exception as exc:  # tokenizers raises plain Exception subclasses for bad files
        raise ConfigError(f"cannot load tokenizer {resolved}: {exc}") from exc


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load (once per file) the tokenizer at `path`: a `tokenizer.json` or a model directory."""
    return _load(tokenizer_file(path))


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Number of tokens in `text`, without special tokens (what a completion adds to the sequence)."""
    return len(tokenizer.encode(text, add_special_tokens=False).ids)
