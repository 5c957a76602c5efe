"""The locust run's own settings: custom command-line arguments (also web UI fields) and their check.

Arguments are added to locust's parser in `add_arguments`, from the option specs of
`loadgen.settings.table` that `loadgen run` and `compare` use too (same default, help and check);
`settings_from` turns the parsed options (the command line, or what the web UI form sent, which arrive
as strings) and the host into the same frozen `Target`, `RequestOptions` and `WorkloadSpec` values the
`loadgen` CLI uses, raising `ConfigError` with the one-line message the CLI gives for the same bad
value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadgen.errors import ConfigError
from loadgen.run_config import Api, RequestOptions, Target, Timeouts
from loadgen.settings import table
from loadgen.settings.option import OptionSpec
from loadgen.settings.workload import WorkloadSettings
from loadgen.workloads.options import workload_kind
from loadgen.workloads.spec import WorkloadSpec
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


ARGUMENTS: tuple[OptionSpec, ...] = (
    table.LOCUST_MODEL,
    table.LOCUST_API_KEY,
    table.API,
    table.LOCUST_TARGET_NAME,
    table.MAX_TOKENS,
    table.N_CHOICES,
    table.IGNORE_EOS,
    table.REQUEST_TIMEOUT,
    table.WORKLOAD,
    table.INPUT_LEN,
    table.LOCUST_OUTPUT_LEN,
    table.LOCUST_NUM_PROMPTS,
    table.LOCUST_TOKENIZER,
    table.DATASET_PATH,
    table.LOCUST_SEED,
    table.LOCUST_RESULTS_DIR,
)
"""servebench's locust arguments, in the order the web UI shows them: the same specs (default, help,
check) as `loadgen run`'s options of the same name, or a variant the table explains."""

NOT_IN_WEB_UI = frozenset({table.LOCUST_API_KEY.dest})
"""locust writes a web UI field's value into the page's HTML: the API key is never one."""


def _environment_defaults() -> dict[str, str]:
    """Defaults read from the environment when the parser is built."""
    return {
        table.LOCUST_MODEL.dest: os.environ.get("SERVEBENCH_MODEL", DEFAULT_MODEL),
        table.LOCUST_API_KEY.dest: os.environ.get("OPENAI_API_KEY", ""),
        table.LOCUST_TOKENIZER.dest: str(default_model_dir()),
    }


def add_arguments(parser: Any) -> None:
    """Add servebench's arguments to locust's parser (`@events.init_command_line_parser`)."""
    # locust binds its web UI to every interface by default; servebench's default is loopback only.
    # `--web-host 0.0.0.0` (as docker-compose.yml passes inside its container) or LOCUST_WEB_HOST opens it.
    parser.set_defaults(web_host=DEFAULT_WEB_HOST)
    from_environment = _environment_defaults()
    for spec in ARGUMENTS:
        if spec.dest in from_environment:
            spec = spec.but(default=from_environment[spec.dest])
        extra = {"include_in_web_ui": False} if spec.dest in NOT_IN_WEB_UI else {}
        # Straight on the parser, not in a group: locust only shows its own parser's arguments in the web UI.
        spec.add_to(parser, **extra)


def _value(options: Any, spec: OptionSpec) -> Any:
    """The checked value of one argument (text from the command line or the web UI form)."""
    return spec.convert(getattr(options, spec.dest, None))


def _text(options: Any, spec: OptionSpec) -> str:
    value = _value(options, spec)
    return "" if value is None else str(value)


def target_from(options: Any, host: str | None) -> Target:
    """The server under test: the locust host plus model, API key and label."""
    if not host:
        raise ConfigError("no target: pass --host http://HOST:PORT or fill the host field in the web UI")
    name = _text(options, table.LOCUST_TARGET_NAME) or (urlsplit(host).netloc or host)
    return Target(
        name=name,
        base_url=host.rstrip("/"),
        model=_text(options, table.LOCUST_MODEL) or DEFAULT_MODEL,
        api_key=_text(options, table.LOCUST_API_KEY) or None,
    )


def timeouts_for(total_s: float) -> Timeouts:
    """`loadgen run`'s default limits, none longer than `--request-timeout`."""
    return Timeouts(
        connect_s=min(table.CONNECT_TIMEOUT.default, total_s),
        ttft_s=min(table.TTFT_TIMEOUT.default, total_s),
        idle_s=min(table.IDLE_TIMEOUT.default, total_s),
        total_s=total_s,
    )


def request_options_from(options: Any) -> RequestOptions:
    """What every request asks for: API, output length, EOS handling, timeouts (always streamed)."""
    api = _value(options, table.API)
    timeouts = timeouts_for(_value(options, table.REQUEST_TIMEOUT))
    n = _value(options, table.N_CHOICES)
    return RequestOptions(
        api=api,
        stream=True,
        max_tokens=_value(options, table.MAX_TOKENS),
        ignore_eos=_value(options, table.IGNORE_EOS),
        # vLLM refuses n > 1 with greedy decoding, so parallel sampling samples.
        temperature=0.0 if n == 1 else 1.0,
        n=n,
        include_usage=True,
        timeouts=timeouts,
    )


def workload_from(options: Any, api: Api) -> WorkloadSpec:
    """The prompt source the arguments describe (built into prompts by `loadgen.workloads`)."""
    path = _value(options, table.DATASET_PATH)
    kind = workload_kind(WorkloadSettings(kind=_value(options, table.WORKLOAD), dataset_path=path))
    if kind == "jsonl" and path is None:
        raise ConfigError("--workload jsonl needs --dataset-path FILE")
    output_len = _value(options, table.LOCUST_OUTPUT_LEN)
    try:
        return WorkloadSpec(
            kind=kind,
            num_prompts=_value(options, table.LOCUST_NUM_PROMPTS),
            seed=_value(options, table.LOCUST_SEED),
            api=api,
            input_len=_value(options, table.INPUT_LEN) if kind == "synthetic" else None,
            output_len=output_len or None,
            tokenizer=_value(options, table.LOCUST_TOKENIZER) if kind != "jsonl" else None,
            path=path,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def settings_from(options: Any, host: str | None) -> LocustSettings:
    """Check the parsed options (command line or web UI form) and build the node's settings."""
    request_options = request_options_from(options)
    results = _text(options, table.LOCUST_RESULTS_DIR)
    return LocustSettings(
        target=target_from(options, host),
        options=request_options,
        workload=workload_from(options, request_options.api),
        results_dir=Path(results) if results else None,
    )
