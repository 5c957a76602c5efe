"""The locust integration's pure parts: settings checks, sweep plan, metric merging, statistics entries.

None of these import locust (which would monkey-patch this test process through gevent).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from loadgen.errors import ConfigError
from loadgen.locust.entries import ITL, TPOT, TTFT, RequestFailed, fire_request_entries
from loadgen.locust.metrics_state import BUCKETS, MetricsState
from loadgen.locust.run_output import RunOutput, request_fields, run_meta
from loadgen.locust.settings import settings_from
from loadgen.locust.sweep_plan import parse_hold, parse_steps, spawn_rate, step_at
from loadgen.record import RequestRecord
from loadgen.results import load_run

MS = 1_000_000


def options(**overrides: Any) -> SimpleNamespace:
    """Parsed options as locust's parser (or the web UI form, as strings) would give them."""
    values: dict[str, Any] = {
        "model": "m",
        "api_key": "",
        "api": "chat",
        "target_name": "",
        "max_tokens": "64",
        "ignore_eos": False,
        "request_timeout": "30",
        "workload": "jsonl",
        "input_len": "128",
        "output_len": "0",
        "num_prompts": "10",
        "tokenizer": "",
        "dataset_path": "p.jsonl",
        "workload_seed": "0",
        "results_dir": "",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def record(
    *, content_ms: list[float], end_ms: float, tokens: int | None, error: str | None = None
) -> RequestRecord:
    """A finished request sent at t=0 with content events at the given milliseconds."""
    return RequestRecord(
        request_id="r",
        target="t",
        index=0,
        api="chat",
        stream=True,
        send_ns=0,
        content_ns=[int(ms * MS) for ms in content_ms],
        end_ns=int(end_ms * MS),
        output_tokens=tokens,
        prompt_tokens=5,
        error_class=error,
        error_message="boom" if error else None,
    )


def test_settings_from_web_ui_strings_build_the_loadgen_values() -> None:
    settings = settings_from(options(ignore_eos="true", api_key="k"), "http://127.0.0.1:9/")
    assert settings.target.base_url == "http://127.0.0.1:9"
    assert settings.target.name == "127.0.0.1:9"
    assert settings.target.api_key == "k"
    assert settings.options.max_tokens == 64 and settings.options.ignore_eos and settings.options.stream
    assert settings.options.include_usage
    assert settings.workload.kind == "jsonl" and settings.workload.api == "chat"


def test_n_from_the_web_ui_asks_for_sampled_choices() -> None:
    assert settings_from(options(), "http://127.0.0.1:9").options.n == 1
    parallel = settings_from(options(n="3"), "http://127.0.0.1:9").options
    assert parallel.n == 3 and parallel.temperature == 1.0  # vLLM refuses n > 1 with greedy decoding


@pytest.mark.parametrize(
    ("overrides", "host", "message"),
    [
        ({"api": "embeddings"}, "http://h:1", "Invalid value for '--api': 'embeddings' is not one of"),
        ({"max_tokens": "many"}, "http://h:1", "'--max-tokens': 'many' is not a valid integer"),
        ({"max_tokens": "0"}, "http://h:1", "'--max-tokens': 0 is not in the range x>=1"),
        ({"n": "0"}, "http://h:1", "'--n': 0 is not in the range x>=1"),
        ({"request_timeout": "-1"}, "http://h:1", "'--request-timeout': -1.0 is not in the range x>0"),
        ({"workload": "csv"}, "http://h:1", "'--workload': 'csv' is not one of"),
        ({"dataset_path": ""}, "http://h:1", "--workload jsonl needs --dataset-path"),
        ({}, None, "no target"),
        ({}, "ftp://h", "base URL must be http(s)"),
    ],
)
def test_bad_settings_raise_a_one_line_config_error(
    overrides: dict[str, Any], host: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(options(**overrides), host)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_sweep_plan_steps_hold_and_end() -> None:
    steps = parse_steps("1, 2,4")
    assert steps == (1, 2, 4)
    assert [step_at(t, steps, 10.0) for t in (0, 9.99, 10, 29.9, 30)] == [0, 0, 1, 2, None]
    assert [spawn_rate(steps, i) for i in range(3)] == [1.0, 1.0, 2.0]
    assert parse_hold("2.5") == 2.5


@pytest.mark.parametrize("text", ["1,x", "0", "2,-1", ","])
def test_sweep_plan_rejects_bad_user_lists(text: str) -> None:
    with pytest.raises(ConfigError, match="^Invalid value for '--sweep-users': "):
        parse_steps(text)


def test_an_empty_sweep_field_takes_the_default_steps() -> None:
    assert parse_steps("") == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    assert parse_hold(" ") == 60.0


@pytest.mark.parametrize("text", ["0", "-3", "soon"])
def test_sweep_plan_rejects_bad_hold_times(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_hold(text)


def test_metrics_state_counts_outcomes_tokens_and_latency_buckets() -> None:
    state = MetricsState()
    state.observe(record(content_ms=[30, 40, 60], end_ms=60, tokens=3))
    state.observe(record(content_ms=[], end_ms=5, tokens=None, error="http_5xx"))
    assert state.requests == {("t", "success"): 1, ("t", "http_5xx"): 1}
    assert state.prompt_tokens == {"t": 10} and state.output_tokens == {"t": 3}
    ttft = state.histograms[("ttft", "t")]
    assert ttft.count == 1 and ttft.total == pytest.approx(0.030)
    assert dict(ttft.cumulative())["0.02"] == 0 and dict(ttft.cumulative())["0.04"] == 1
    itl = state.histograms[("itl", "t")]
    assert itl.count == 2 and itl.total == pytest.approx(0.030)
    assert dict(itl.cumulative())["0.01"] == 1  # a 10 ms gap falls in the le=0.01 bucket
    assert state.histograms[("tpot", "t")].total == pytest.approx(0.015)


def test_drained_worker_states_merge_into_the_sum() -> None:
    worker_a, worker_b, master = MetricsState(), MetricsState(), MetricsState()
    worker_a.observe(record(content_ms=[10, 20], end_ms=20, tokens=2))
    worker_b.observe(record(content_ms=[50, 70], end_ms=70, tokens=2))
    worker_b.observe(record(content_ms=[], end_ms=1, tokens=None, error="timeout"))
    master.merge(worker_a.drain())
    master.merge(worker_b.drain())
    assert master.requests == {("t", "success"): 2, ("t", "timeout"): 1}
    assert master.output_tokens == {"t": 4}
    assert master.histograms[("ttft", "t")].count == 2
    assert master.histograms[("ttft", "t")].total == pytest.approx(0.060)
    assert len(master.histograms[("e2e", "t")].counts) == len(BUCKETS["e2e"]) + 1
    assert worker_a.drain()["requests"] == []  # a drain starts again from zero


class FakeEvents:
    """Collects what `fire_request_entries` fires, as locust's `events.request` would receive it."""

    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []
        self.request = self

    def fire(self, **kwargs: Any) -> None:
        self.fired.append(kwargs)


def test_successful_request_fires_whole_request_ttft_itl_and_tpot_entries() -> None:
    events = FakeEvents()
    fire_request_entries(
        events, record(content_ms=[100, 110, 130], end_ms=140, tokens=3), "/v1/chat/completions"
    )
    by_type = {e["request_type"]: e for e in events.fired}
    assert set(by_type) == {"POST", TTFT, ITL, TPOT}
    assert by_type["POST"]["response_time"] == pytest.approx(140)
    assert by_type["POST"]["response_length"] == 3 and by_type["POST"]["exception"] is None
    assert by_type[TTFT]["response_time"] == pytest.approx(100)
    assert by_type[ITL]["response_time"] == pytest.approx(15)  # the request's mean gap
    assert by_type[TPOT]["response_time"] == pytest.approx(20)  # (140 - 100) / (3 - 1)


def test_failed_request_fires_one_failure_named_by_its_error_class() -> None:
    events = FakeEvents()
    fire_request_entries(events, record(content_ms=[100], end_ms=120, tokens=1, error="stream_cut"), "/x")
    assert len(events.fired) == 1
    exception = events.fired[0]["exception"]
    assert isinstance(exception, RequestFailed)
    assert repr(exception) == "stream_cut: boom" and exception.error_class == "stream_cut"


def test_run_output_writes_one_summary_per_measured_level(tmp_path: Path) -> None:
    settings = settings_from(options(), "http://127.0.0.1:9")
    output = RunOutput(tmp_path, run_meta(settings, {}), request_fields(settings))
    for level, warmup in [
        ("", True),
        ("concurrency=1", False),
        ("concurrency=2", True),
        ("concurrency=2", False),
    ]:
        done = record(content_ms=[10, 20], end_ms=20, tokens=2)
        done.level, done.warmup = level, warmup
        output.write(done)
    assert len(output.finalize()) == 2
    run = load_run(output.directory)
    assert [s["level"] for s in run.summaries] == ["concurrency=1", "concurrency=2"]
    assert [s["completed"] for s in run.summaries] == [1, 1]  # warm-up left out
    assert run.summaries[1]["load"]["concurrency"] == 2 and run.meta["tool"] == "locust"
    assert len(run.records()) == 4
    output.write(record(content_ms=[1], end_ms=1, tokens=1))
    assert output.late == 1 and len(run.records()) == 4
    assert RunOutput(tmp_path, {}, {}).directory != output.directory  # a second test gets its own run
