"""The locust run's own settings: custom command-line arguments (also web UI fields) and their check.

Arguments are added to locust's parser in `add_arguments`; `settings_from` turns the parsed options
(the command line, or what the web UI form sent, which arrive as strings) and the host into the
same frozen `Target`, `RequestOptions` and `WorkloadSpec` values the `loadgen` CLI uses, raising
`ConfigError` with a one-line reason for anything unusable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadgen.errors import ConfigError
from loadgen.run_config import RequestOptions, Target, Timeouts
from loadgen.workloads.spec import APIS, KINDS, WorkloadSpec
from servers.vllm.launch import DEFAULT_SERVED_MODEL_NAME, default_model_dir

DEFAULT_MODEL = DEFAULT_SERVED_MODEL_NAME
DEFAULT_WEB_HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocustSettings:
    """Everything a locust node needs to send requests and label what it measured."""

    target: Target
    options: RequestOptions
    workload: WorkloadSpec
    results_dir: Path | None


def add_arguments(parser: Any) -> None:
    """Add servebench's arguments to locust's parser (`@events.init_command_line_parser`)."""
    # Straight on the parser, not in a group: locust only shows its own parser's arguments in the web UI.
    add = parser.add_argument
    add(
        "--model",
        default=os.environ.get("SERVEBENCH_MODEL", DEFAULT_MODEL),
        help="Served model name sent in each request (env SERVEBENCH_MODEL).",
    )
    add(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY", ""),
        include_in_web_ui=False,  # locust writes a web UI field's value into the page's HTML
        help="Bearer token, if the server wants one (env OPENAI_API_KEY); never shown in the web UI.",
    )
    # locust binds its web UI to every interface by default; servebench's default is loopback only.
    # `--web-host 0.0.0.0` (as docker-compose.yml passes inside its container) or LOCUST_WEB_HOST opens it.
    parser.set_defaults(web_host=DEFAULT_WEB_HOST)
    add("--api", default="chat", help="`chat` (/v1/chat/completions) or `completions`.")
    add(
        "--target-name",
        default="",
        help="Label for records and the `target` metric label (default: the host).",
    )
    add("--max-tokens", default="128", help="Output length asked for when the prompt does not set one.")
    add(
        "--n",
        default="1",
        help="Choices per request (parallel sampling, sent at temperature 1); every choice's tokens count.",
    )
    add(
        "--ignore-eos",
        action="store_true",
        default=False,
        help="Ask the server to ignore end-of-sequence (vLLM's `ignore_eos`).",
    )
    add(
        "--request-timeout",
        default="300",
        help="Seconds a whole request may take before it fails as `timeout`.",
    )
    add("--workload", default="synthetic", help="`synthetic`, `sharegpt` or `jsonl`.")
    add("--input-len", default="128", help="Synthetic: prompt length in tokens.")
    add(
        "--output-len",
        default="128",
        help="Synthetic: output tokens per request; ShareGPT: override the answer length "
        "(0 keeps the dataset's).",
    )
    add("--num-prompts", default="1000", help="Prompts to build (users cycle through them).")
    add(
        "--tokenizer",
        default=str(default_model_dir()),
        help="tokenizer.json or model directory (synthetic, ShareGPT; env SERVEBENCH_MODEL_DIR).",
    )
    add(
        "--dataset-path",
        default="",
        help="JSONL prompts file, or a ShareGPT JSON file (default: the packaged one).",
    )
    add("--workload-seed", default="0", help="Seed for synthetic prompts and ShareGPT sampling.")
    add(
        "--results-dir",
        default="",
        help="Write each test's requests.jsonl and summaries under DIR/<UTC time> "
        "(the format `loadgen report` reads).",
    )


def _text(options: Any, name: str) -> str:
    value = getattr(options, name, None)
    return "" if value is None else str(value).strip()


def _int(options: Any, name: str, *, minimum: int) -> int:
    raw = _text(options, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"--{name.replace('_', '-')} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")
    return value


def _seconds(options: Any, name: str) -> float:
    raw = _text(options, name)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"--{name.replace('_', '-')} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"--{name.replace('_', '-')} must be above 0, got {raw}")
    return value


def _flag(options: Any, name: str) -> bool:
    value = getattr(options, name, False)
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def target_from(options: Any, host: str | None) -> Target:
    """The server under test: the locust host plus model, API key and label."""
    if not host:
        raise ConfigError("no target: pass --host http://HOST:PORT or fill the host field in the web UI")
    name = _text(options, "target_name") or (urlsplit(host).netloc or host)
    return Target(
        name=name,
        base_url=host.rstrip("/"),
        model=_text(options, "model") or DEFAULT_MODEL,
        api_key=_text(options, "api_key") or None,
    )


def request_options_from(options: Any) -> RequestOptions:
    """What every request asks for: API, output length, EOS handling, timeouts (always streamed)."""
    api = _text(options, "api")
    if api not in APIS:
        raise ConfigError(f"--api must be one of {', '.join(APIS)}, got {api!r}")
    total = _seconds(options, "request_timeout")
    timeouts = Timeouts(connect_s=min(10.0, total), ttft_s=total, idle_s=total, total_s=total)
    n = _int(options, "n", minimum=1) if _text(options, "n") else 1  # an empty web-UI field: 1
    return RequestOptions(
        api=api,  # type: ignore[arg-type]  # checked against APIS above
        stream=True,
        max_tokens=_int(options, "max_tokens", minimum=1),
        ignore_eos=_flag(options, "ignore_eos"),
        # vLLM refuses n > 1 with greedy decoding, so parallel sampling samples.
        temperature=0.0 if n == 1 else 1.0,
        n=n,
        include_usage=True,
        timeouts=timeouts,
    )


def workload_from(options: Any, api: str) -> WorkloadSpec:
    """The prompt source the arguments describe (built into prompts by `loadgen.workloads`)."""
    kind = _text(options, "workload")
    if kind not in KINDS:
        raise ConfigError(f"--workload must be one of {', '.join(KINDS)}, got {kind!r}")
    output_len = _int(options, "output_len", minimum=0)
    path = _text(options, "dataset_path") or None
    if kind == "jsonl" and path is None:
        raise ConfigError("--workload jsonl needs --dataset-path FILE")
    try:
        return WorkloadSpec(
            kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
            num_prompts=_int(options, "num_prompts", minimum=1),
            seed=_int(options, "workload_seed", minimum=0),
            api=api,  # type: ignore[arg-type]
            input_len=_int(options, "input_len", minimum=1) if kind == "synthetic" else None,
            output_len=output_len or None,
            tokenizer=(_text(options, "tokenizer") or None) if kind != "jsonl" else None,
            path=path,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def settings_from(options: Any, host: str | None) -> LocustSettings:
    """Check the parsed options (command line or web UI form) and build the node's settings."""
    request_options = request_options_from(options)
    results = _text(options, "results_dir")
    return LocustSettings(
        target=target_from(options, host),
        options=request_options,
        workload=workload_from(options, request_options.api),
        results_dir=Path(results) if results else None,
    )
