"""Secrets out of everything servebench writes: one place that knows what a secret looks like.

Every file and log the project writes (run.json's `command`, request headers, launch commands and
environments, locust results, server logs kept in a run) passes through here first:

- header values of `Authorization`, `Proxy-Authorization`, `Cookie` and any header whose name holds
  `key`, `token`, `secret` or `password` (`api-key`, `x-api-key`, `X-Auth-Token`, ...);
- the values of command-line options with such names (`--api-key sk-...`, `--api-key=sk-...`,
  `--header "Authorization: Bearer ..."`);
- environment variables with such names (`OPENAI_API_KEY=...`, `HF_TOKEN=...`);
- `Bearer <token>` and `sk-...` style keys anywhere in text;
- the current values of `OPENAI_API_KEY` and friends (`SECRET_ENV_VARS`) wherever they appear.

What is left in place of a secret is `REDACTED`, so a reader sees that something was given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"

SECRET_ENV_VARS = (
    "OPENAI_API_KEY",
    "VLLM_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "SERVEBENCH_API_KEY",
    "HF_SERVER_API_KEY",
)
"""Environment variables whose current values are scrubbed from any text, wherever they appear."""

_SECRET_NAME = re.compile(
    r"(authorization|cookie|api[-_]?key|secret|password|passwd|(?:^|[-_])token(?:$|[-_]))", re.I
)
_NAME = r"[A-Za-z0-9_-]+"
_BEARER = re.compile(r"\b(Bearer)\s+[^\s'\",;]+", re.I)
_BASIC = re.compile(r"\b(Basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}")  # base64, not prose
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
_HEADER_LINE = re.compile(
    rf"(?P<name>\b{_NAME})(?P<sep>\s*:\s*)(?P<value>(?:(?:Bearer|Basic)\s+)?[^\s'\",]+)"
)
_OPTION_EQ = re.compile(rf"(?P<name>--?{_NAME})=(?P<value>[^\s'\"]+)")
_OPTION_SPACE = re.compile(
    rf"(?P<name>--?{_NAME})(?P<sep>\s+)(?P<value>'[^']*'|\"[^\"]*\"|[^\s'\"-][^\s'\"]*)"
)
_ENV_ASSIGN = re.compile(rf"(?<![-A-Za-z0-9_])(?P<name>{_NAME})=(?P<value>[^\s'\"]+)")
_DICT_ITEM = re.compile(rf"(?P<name>['\"](?P<key>{_NAME})['\"]\s*:\s*)(?P<value>'[^']+'|\"[^\"]+\")")


def is_secret_name(name: str) -> bool:
    """True for a header, option or variable name that carries a secret (`Authorization`, `api-key`).

    Names that only say where a secret comes from (`--api-key-env`, `api_key_file`) are not secrets.
    """
    pointer = name.lower().rstrip("-_").endswith(("env", "file"))
    return bool(_SECRET_NAME.search(name)) and not pointer


def _known_values() -> list[str]:
    """Current values of the secret environment variables (long enough to be worth matching)."""
    return [v for v in (os.environ.get(name, "") for name in SECRET_ENV_VARS) if len(v) >= 4]


def _hide(match: re.Match[str], replacement: str, name: str | None = None) -> str:
    """`replacement` when the matched name is a secret's (and not an `..._env` pointer), else as is."""
    name = name if name is not None else match["name"]
    if is_secret_name(name):
        return replacement
    return match.group(0)


def redact_text(text: str, extra_secrets: Sequence[str] = ()) -> str:
    """`text` with every secret it visibly holds (and every known secret value) replaced."""
    for value in sorted({*_known_values(), *(s for s in extra_secrets if s and len(s) >= 4)}, key=len)[::-1]:
        text = text.replace(value, REDACTED)
    text = _HEADER_LINE.sub(lambda m: _hide(m, f"{m['name']}{m['sep']}{REDACTED}"), text)
    text = _OPTION_EQ.sub(lambda m: _hide(m, f"{m['name']}={REDACTED}"), text)
    text = _OPTION_SPACE.sub(lambda m: _hide(m, f"{m['name']}{m['sep']}{REDACTED}"), text)
    text = _ENV_ASSIGN.sub(lambda m: _hide(m, f"{m['name']}={REDACTED}"), text)
    text = _DICT_ITEM.sub(
        lambda m: _hide(m, f"{m['name']}{m['value'][0]}{REDACTED}{m['value'][0]}", m["key"]), text
    )
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _BASIC.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SK_KEY.sub(REDACTED, text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with the values of secret options (and secret-looking words) replaced."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if arg.startswith("-") and is_secret_name(name):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with the value of every secret-carrying header replaced."""
    return {k: REDACTED if is_secret_name(k) else redact_text(v) for k, v in headers.items()}


def redact(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with every secret replaced.

    A dict item whose key names a secret (`api_key`, `Authorization`, `OPENAI_API_KEY`) loses its
    value (unless it is empty or None); every string is passed through `redact_text`. Keys that
    only name where a secret comes from (`api_key_env`) keep their value.
    """
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key) and isinstance(item, str) and item:
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def scrub_file(path: Path) -> None:
    """Rewrite a text file (a server's log kept in a run) with its secrets replaced; missing: nothing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    clean = redact_text(text)
    if clean != text:
        path.write_text(clean)
