"""The typed settings of `loadgen run`, `compare`, `demo` and the locust integration: one definition of
each option (default, help, check) shared by the click commands and locust's arguments (web UI fields),
and the settings objects the commands build from click's values."""

from __future__ import annotations

import subprocess
from dataclasses import FrozenInstanceError
from types import SimpleNamespace
from typing import Any

import click
import pytest

from loadgen.cli import main
from loadgen.compare.cli import compare_command, demo_command
from loadgen.errors import ConfigError
from loadgen.locust.settings import ARGUMENTS, NOT_IN_WEB_UI, add_arguments, settings_from, timeouts_for
from loadgen.run_config import RequestOptions, Timeouts
from loadgen.settings import table
from loadgen.settings.compare import (
    DEMO_DEFAULTS,
    CompareSettings,
    compare_settings,
    demo_settings,
)
from loadgen.settings.option import settings_from as build_settings
from loadgen.settings.run import RunSettings
from tests.fixtures.procs import run_loadgen


class RecordingParser:
    """Stands in for locust's parser: records what `add_arguments` adds (as the web UI would show it)."""

    def __init__(self) -> None:
        self.arguments: dict[str, dict[str, Any]] = {}
        self.defaults: dict[str, Any] = {}

    def add_argument(self, flag: str, **kwargs: Any) -> None:
        self.arguments[flag] = kwargs

    def set_defaults(self, **kwargs: Any) -> None:
        self.defaults.update(kwargs)


def locust_arguments() -> dict[str, dict[str, Any]]:
    parser = RecordingParser()
    add_arguments(parser)
    return parser.arguments


def click_defaults(command: click.Command) -> dict[str, Any]:
    return {p.opts[0]: p.default for p in command.params if isinstance(p, click.Option)}


def run_command() -> click.Command:
    command = main.commands["run"]
    assert isinstance(command, click.Command)
    return command


def test_run_compare_and_locust_share_the_api_and_request_timeout_defaults() -> None:
    run, compare, locust = click_defaults(run_command()), click_defaults(compare_command), locust_arguments()
    assert run["--api"] == compare["--api"] == locust["--api"]["default"] == RequestOptions().api
    assert run["--request-timeout"] == 900.0 == Timeouts().total_s
    assert float(locust["--request-timeout"]["default"]) == run["--request-timeout"]
    # compare sends RequestOptions' timeouts, the ones run's options default to
    assert RequestOptions().timeouts == Timeouts(
        connect_s=run["--connect-timeout"],
        ttft_s=run["--ttft-timeout"],
        idle_s=run["--idle-timeout"],
        total_s=run["--request-timeout"],
    )


def test_a_default_locust_request_has_the_limits_of_a_default_run() -> None:
    assert timeouts_for(table.REQUEST_TIMEOUT.default) == Timeouts()
    short = timeouts_for(5.0)
    assert (short.connect_s, short.ttft_s, short.idle_s, short.total_s) == (5.0, 5.0, 5.0, 5.0)


def test_the_locust_arguments_are_the_table_specs() -> None:
    added = locust_arguments()
    assert list(added) == [spec.flag for spec in ARGUMENTS]
    for spec in ARGUMENTS:
        argument = added[spec.flag]
        assert argument["help"] == spec.help
        assert argument.get("include_in_web_ui", True) == (spec.dest not in NOT_IN_WEB_UI)
    for shared in (table.API, table.MAX_TOKENS, table.N_CHOICES, table.INPUT_LEN, table.REQUEST_TIMEOUT):
        assert shared in ARGUMENTS
        assert added[shared.flag]["default"] == str(shared.default)
    assert added["--ignore-eos"] == {"action": "store_true", "default": False, "help": table.IGNORE_EOS.help}
    # the shared options' help on the command line is the web UI's
    run_help = {p.opts[0]: p.help for p in run_command().params if isinstance(p, click.Option)}
    for flag in ("--api", "--max-tokens", "--request-timeout", "--workload", "--dataset-path"):
        assert run_help[flag] == added[flag]["help"], flag


@pytest.mark.parametrize(
    ("flag", "locust_field", "value", "message"),
    [
        ("--n", "n", "0", "Invalid value for '--n': 0 is not in the range x>=1."),
        ("--api", "api", "embeddings", "Invalid value for '--api': 'embeddings' is not one of"),
        ("--max-tokens", "max_tokens", "lots", "Invalid value for '--max-tokens': 'lots' is not a valid"),
        ("--request-timeout", "request_timeout", "0", "Invalid value for '--request-timeout': 0.0 is not"),
        ("--workload", "workload", "csv", "Invalid value for '--workload': 'csv' is not one of"),
    ],
)
def test_a_bad_value_gives_the_same_one_line_error_on_the_cli_and_in_locust(
    flag: str, locust_field: str, value: str, message: str
) -> None:
    done: subprocess.CompletedProcess[str] = run_loadgen("run", "--sim", flag, value, timeout=60)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    cli_message = done.stderr.strip().removeprefix("loadgen: error: ")
    assert cli_message.startswith(message), cli_message
    web_ui = SimpleNamespace(**{"workload": "jsonl", "dataset_path": "p.jsonl", locust_field: value})
    with pytest.raises(ConfigError) as caught:
        settings_from(web_ui, "http://127.0.0.1:9")
    assert str(caught.value) == cli_message
    compare = run_loadgen("compare", "a=http://127.0.0.1:9", "b=http://127.0.0.1:9", flag, value, timeout=60)
    if flag in ("--n", "--api", "--workload"):
        assert compare.returncode == 2 and compare.stderr.strip() == done.stderr.strip(), compare.stderr


def test_an_empty_web_ui_field_takes_the_shared_default() -> None:
    web_ui = SimpleNamespace(
        n="", max_tokens=" ", api="", request_timeout="", workload="", dataset_path="p.jsonl"
    )
    settings = settings_from(web_ui, "http://127.0.0.1:9")
    assert (settings.options.n, settings.options.max_tokens, settings.options.api) == (1, 128, "completions")
    assert settings.options.timeouts == Timeouts()
    assert settings.workload.kind == "jsonl"  # as on the CLI: a dataset path without --workload is jsonl


def test_run_settings_come_from_the_click_values() -> None:
    command = run_command()
    context = command.make_context(
        "run", ["--sim", "--n", "2", "--temperature", "1", "--workload", "sharegpt", "--header", "A: b"]
    )
    settings = build_settings(RunSettings, context.params)
    assert settings.n == 2 and settings.temperature == 1.0 and settings.header == (("A", "b"),)
    assert settings.workload.kind == "sharegpt" and settings.workload.max_prompt_len == 1024
    assert settings.request_timeout == 900.0 and settings.client_kind == "fast"
    with pytest.raises(FrozenInstanceError):
        settings.n = 3  # type: ignore[misc]


def test_every_option_of_every_command_has_a_settings_field() -> None:
    for command, cls in ((run_command(), RunSettings), (compare_command, CompareSettings)):
        values = {p.name: p.default for p in command.params if p.name is not None}
        build_settings(cls, values)  # raises TypeError for an option without a field
    with pytest.raises(TypeError, match="no field for nonsense"):
        build_settings(RunSettings, {"nonsense": 1})


def test_demo_is_compare_launch_with_its_defaults_in_one_place() -> None:
    demo = demo_settings({})
    compare = compare_settings({})
    assert demo.launch and not compare.launch
    assert (demo.concurrency, demo.output_len, demo.min_requests, demo.requests_per_slot) == (
        (1, 4, 8),
        32,
        4,
        2,
    )
    assert (compare.concurrency, compare.output_len, compare.min_requests, compare.requests_per_slot) == (
        None,
        128,
        8,
        4,
    )
    assert demo.realistic_level and not compare.realistic_level and demo.rerun_client_bound
    assert demo.slo == ("ttft:1000", "tpot:100")
    shown = click_defaults(demo_command)
    for flag, value in (("--concurrency", "1,4,8"), ("--output-len", 32), ("--realistic-level", True)):
        assert shown[flag] == value
    assert "--sweep" not in shown and "--realistic-level" not in click_defaults(compare_command)
    # a value given on the command line wins over the demo's default
    assert demo_settings({"concurrency": "2"}).concurrency == (2,)
    assert set(DEMO_DEFAULTS) <= {f for f in CompareSettings.__dataclass_fields__}


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--concurrency", "1,0", "needs numbers above 0, got '1,0'"),
        ("--rate", "2,x", "takes comma-separated numbers, got '2,x'"),
        ("--concurrency", ",", "needs at least one number"),
    ],
)
def test_level_lists_are_checked_once_the_same_way_on_run_and_compare(
    flag: str, value: str, message: str
) -> None:
    run = run_loadgen("run", "--sim", flag, value, timeout=60)
    compare = run_loadgen("compare", "a=http://127.0.0.1:9", "b=http://127.0.0.1:9", flag, value, timeout=60)
    expected = f"loadgen: error: Invalid value for '{flag}': {message}"
    assert run.returncode == compare.returncode == 2
    assert run.stderr.strip() == compare.stderr.strip() == expected, (run.stderr, compare.stderr)


def test_number_lists_become_typed_tuples() -> None:
    run = build_settings(RunSettings, {"concurrency": (1, 4), "percentiles": "50,99"})
    assert run.concurrency == (1, 4) and run.percentiles == (50.0, 99.0)
    assert RunSettings().percentiles == (50.0, 90.0, 95.0, 99.0)
    assert compare_settings({"offline_batches": "none"}).offline_batches == ()
    assert CompareSettings().offline_batches == (4, 8, 16, 32)


def test_concurrency_and_rate_together_are_refused_by_one_rule() -> None:
    run = run_loadgen("run", "--sim", "--concurrency", "1", "--rate", "2", timeout=60)
    compare = run_loadgen(
        "compare",
        "a=http://127.0.0.1:9",
        "b=http://127.0.0.1:9",
        "--concurrency",
        "1",
        "--rate",
        "2",
        timeout=60,
    )
    assert run.returncode == compare.returncode == 2
    assert (
        run.stderr.strip()
        == compare.stderr.strip()
        == ("loadgen: error: use --concurrency (closed loop) or --rate (open loop), not both")
    )
