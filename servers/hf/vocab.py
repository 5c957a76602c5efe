"""Resize a byte-level BPE tokenizer (`tokenizer.json`) to exactly a model's vocabulary size.

The preset model directories (`servers/hf/presets.py`) borrow SmolLM2's tokenizer (49,152 ids) but
keep each model's real vocabulary size, because the embedding and the output projection are a real
share of the weights and of every decoding step (Qwen2.5-7B: 1.09 B of 7.6 B parameters). The
tokenizer must then cover exactly the ids the model can produce:

- smaller (Llama 2, TinyLlama: 32,000): the ids at or above the size are dropped, with every merge
  that needs them. SmolLM2's merges only ever build a token from lower ids, so what remains is a
  complete BPE tokenizer (every byte still encodes) that merges a little less.
- larger (Llama 3: 128,256; Qwen2.5: 152,064): filler tokens `<extra_N>` take the ids above 49,151.
  No merge builds them, so no prompt encodes to them, but a model with random weights generates them
  and then they decode (to the text `<extra_N>`) on both servers alike, instead of being ids a
  tokenizer cannot decode.
"""

from __future__ import annotations

from typing import Any


def filler_token(token_id: int) -> str:
    """The vocabulary entry of an id above the source tokenizer's (printable ASCII: byte-level safe)."""
    return f"<extra_{token_id}>"


def resize_tokenizer(tokenizer: dict[str, Any], size: int) -> dict[str, Any]:
    """A copy of a parsed BPE `tokenizer.json` whose ids are exactly 0..size-1."""
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"only BPE tokenizers can be resized, not {model.get('type')!r}")
    vocab: dict[str, int] = model["vocab"]
    added = tokenizer.get("added_tokens") or []
    if any(int(token["id"]) >= size for token in added):
        raise ValueError(f"the tokenizer's special tokens do not fit a vocabulary of {size}")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError("the tokenizer's ids are not contiguous from 0")
    if size <= len(vocab):
        kept = {token: i for token, i in vocab.items() if i < size}
        merges = [m for m in model["merges"] if _merge_kept(m, kept)]
    else:
        kept = dict(vocab)
        kept.update({filler_token(i): i for i in range(len(vocab), size)})
        merges = list(model["merges"])
    return {**tokenizer, "model": {**model, "vocab": kept, "merges": merges}}


def _merge_kept(merge: list[str] | str, vocab: dict[str, int]) -> bool:
    left, right = merge if isinstance(merge, list) else merge.split(" ", 1)
    return left in vocab and right in vocab and left + right in vocab
