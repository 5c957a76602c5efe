"""User prompts from a JSONL file: one `{"prompt": ...}` or `{"messages": [...]}` object per line.

Optional per line: `"max_tokens"` or `"output_tokens"` (the output length to ask for). Blank lines are
skipped. A `prompt` line sent to the chat API becomes one user message; a `messages` line cannot be
sent to the completions API. Any bad line raises ValueError naming the file and the line number.
"""

from __future__ import annotations

from itertools import cycle, islice
from pathlib import Path
from typing import Any

import orjson
from tokenizers import Tokenizer

from loadgen.workloads.base import Prompt
from loadgen.workloads.spec import WorkloadSpec
from loadgen.workloads.tokenizer import count_tokens, load_tokenizer

ROLES = frozenset({"system", "user", "assistant", "developer", "tool"})


class _LineError(ValueError):
    """What is wrong with one line; the caller adds the file and line number."""


def _output_tokens(obj: dict[str, Any]) -> int | None:
    keys = [key for key in ("max_tokens", "output_tokens") if key in obj]
    if len(keys) == 2 and obj["max_tokens"] != obj["output_tokens"]:
        raise _LineError("max_tokens and output_tokens disagree")
    if not keys:
        return None
    value = obj[keys[0]]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _LineError(f"{keys[0]} must be a positive integer, got {value!r}")
    return value


def _messages(raw: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise _LineError("messages must be a non-empty list")
    messages: list[dict[str, str]] = []
    for n, message in enumerate(raw):
        if not isinstance(message, dict):
            raise _LineError(f"messages[{n}] is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise _LineError(f"messages[{n}].role must be one of {', '.join(sorted(ROLES))}, got {role!r}")
        if not isinstance(content, str):
            raise _LineError(f"messages[{n}].content must be a string")
        messages.append({"role": role, "content": content})
    return tuple(messages)


def parse_line(line: bytes, api: str, tokenizer: Tokenizer | None) -> Prompt:
    """One JSONL line as a Prompt for `api`; raises ValueError saying what is wrong with it."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _LineError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _LineError("expected a JSON object")
    if ("prompt" in obj) == ("messages" in obj):
        raise _LineError('expected exactly one of "prompt" or "messages"')
    output_tokens = _output_tokens(obj)
    if "prompt" in obj:
        text = obj["prompt"]
        if not isinstance(text, str) or not text:
            raise _LineError("prompt must be a non-empty string")
        tokens = count_tokens(tokenizer, text) if tokenizer is not None else None
        if api == "chat":
            return Prompt(
                messages=({"role": "user", "content": text},),
                prompt_tokens=tokens,
                output_tokens=output_tokens,
            )
        return Prompt(text=text, prompt_tokens=tokens, output_tokens=output_tokens)
    if api != "chat":
        raise _LineError("a messages line needs the chat API (api=chat)")
    messages = _messages(obj["messages"])
    tokens = None
    if tokenizer is not None:
        tokens = sum(count_tokens(tokenizer, message["content"]) for message in messages)
    return Prompt(messages=messages, prompt_tokens=tokens, output_tokens=output_tokens)


def read_jsonl(path: str | Path, api: str, tokenizer: Tokenizer | None = None) -> list[Prompt]:
    """Every prompt in the file, in order; ValueError (with file and line number) on a bad line."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read prompts file {path}: {exc.strerror}") from None
    prompts: list[Prompt] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            prompts.append(parse_line(line, api, tokenizer))
        except _LineError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    if not prompts:
        raise ValueError(f"{path}: no prompts in the file")
    return prompts


def jsonl_prompts(spec: WorkloadSpec) -> list[Prompt]:
    """The spec's JSONL prompts: all of them, or the first `num_prompts` (cycling if the file is shorter)."""
    if spec.path is None:
        raise ValueError("the jsonl workload needs a path")
    tokenizer = load_tokenizer(spec.tokenizer) if spec.tokenizer is not None else None
    prompts = read_jsonl(spec.path, spec.api, tokenizer)
    if spec.num_prompts is None:
        return prompts
    return list(islice(cycle(prompts), spec.num_prompts))
