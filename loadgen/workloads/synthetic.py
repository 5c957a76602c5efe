"""Synthetic prompts of an exact token length, measured by the model's own tokenizer.

Each prompt is random tokens from the vocabulary (special tokens and tokens that decode to partial
UTF-8 left out), decoded to text and re-encoded, then trimmed or extended until the text encodes to
exactly `input_len` tokens. Every prompt draws its own tokens, so prompts share no prefix and cannot
hit a server's prefix cache by accident. The same seed gives the same prompts.

`prompt_tokens` counts the text alone, without special tokens. A chat request carries the text as
one user message; the server's chat template adds its own tokens around it (for SmolLM2's ChatML,
a handful), so the prompt the server sees is that much longer.
"""

from __future__ import annotations

import random
from functools import lru_cache

from tokenizers import Tokenizer

from loadgen.workloads.base import Prompt
from loadgen.workloads.lengths import parse_length_dist
from loadgen.workloads.spec import WorkloadSpec
from loadgen.workloads.tokenizer import load_tokenizer

MAX_ROUNDS = 64
"""Trim/extend rounds before a prompt is drawn again from scratch."""
MAX_DRAWS = 16


def _vocabulary(tokenizer: Tokenizer) -> tuple[tuple[int, ...], frozenset[int]]:
    """The ids to draw from (ordinary tokens that decode to whole characters alone) and the added ids."""
    added = frozenset(tokenizer.get_added_tokens_decoder())
    ids = [i for i in range(tokenizer.get_vocab_size(with_added_tokens=True)) if i not in added]
    texts = (tokenizer.decode([i], skip_special_tokens=False) for i in ids)
    clean = tuple(i for i, text in zip(ids, texts, strict=True) if text.strip() and "\ufffd" not in text)
    return clean, added


_vocabulary_of = lru_cache(maxsize=8)(_vocabulary)


def exact_length_text(tokenizer: Tokenizer, length: int, rng: random.Random) -> str:
    """Random text that `tokenizer` encodes (without special tokens) to exactly `length` tokens."""
    vocabulary, added = _vocabulary_of(tokenizer)
    if not vocabulary:
        raise ValueError("the tokenizer has no ordinary tokens to draw prompts from")
    for _ in range(MAX_DRAWS):
        ids = rng.choices(vocabulary, k=length)
        for _ in range(MAX_ROUNDS):
            text = tokenizer.decode(ids, skip_special_tokens=False)
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            if added.intersection(ids):  # ordinary tokens spelled out a special one, e.g. <|im_start|>
                ids = [rng.choice(vocabulary) if i in added else i for i in ids]
            elif len(ids) == length:
                return text
            if len(ids) > length:
                ids = ids[:length]
            else:
                ids = ids + rng.choices(vocabulary, k=length - len(ids))
    raise ValueError(f"could not build a prompt of exactly {length} tokens with this tokenizer")


def draw_lengths(spec: WorkloadSpec) -> tuple[list[int], list[int], dict[str, int]]:
    """Each prompt's input and output length: fixed, or drawn from the spec's distributions (seeded,
    input and output from streams of their own); also how many draws were clamped into range."""
    count = spec.num_prompts
    if count is None:
        raise ValueError("the synthetic workload needs num_prompts")
    out: list[list[int]] = []
    clamped: dict[str, int] = {}
    for side, fixed, dist in (
        ("input", spec.input_len, spec.input_len_dist),
        ("output", spec.output_len, spec.output_len_dist),
    ):
        if dist is not None:
            drawn = parse_length_dist(dist).sample(count, random.Random(f"{spec.seed}:{side}-lengths"))
            out.append(drawn.values)
            clamped[side] = drawn.clamped
        elif fixed is not None:
            out.append([fixed] * count)
            clamped[side] = 0
        else:
            raise ValueError(f"the synthetic workload needs an {side} length or distribution")
    return out[0], out[1], clamped


def synthetic_prompts(spec: WorkloadSpec) -> list[Prompt]:
    """`spec.num_prompts` prompts of exactly their drawn input length, each asking its output length."""
    if spec.tokenizer is None:
        raise ValueError("the synthetic workload needs a tokenizer")
    tokenizer = load_tokenizer(spec.tokenizer)
    inputs, outputs, _ = draw_lengths(spec)
    rng = random.Random(spec.seed)
    prompts: list[Prompt] = []
    for length, output in zip(inputs, outputs, strict=True):
        text = exact_length_text(tokenizer, length, rng)
        if spec.api == "chat":
            prompt = Prompt(
                messages=({"role": "user", "content": text},), prompt_tokens=length, output_tokens=output
            )
        else:
            prompt = Prompt(text=text, prompt_tokens=length, output_tokens=output)
        prompts.append(prompt)
    return prompts
