"""Repeats, open-loop and capacity options of `loadgen compare`: bad combinations are one-line errors
given before any server is started or reached."""

from __future__ import annotations

import time

import pytest

from loadgen.compare.execute import build_plan
from loadgen.settings.compare import compare_settings
from tests.test_compare_cli import loadgen

UNREACHABLE = ("a=http://127.0.0.1:9", "b=http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repeats", "0"], "0 is not in the range x>=1"),
        (["--min-requests", "0"], "0 is not in the range x>=1"),
        (["--capacity-search"], "give at least one --slo"),
        (["--arrival", "gamma"], "--arrival shapes open-loop load: give --rate levels"),
        (["--rate", "2", "--burstiness", "0.5"], "--burstiness is the shape of gamma arrivals"),
        (["--concurrency", "2", "--burstiness", "0.5"], "--burstiness shapes open-loop load"),
        (["--capacity-steps", "4", "--slo", "ttft:100"], "--capacity-steps bounds --capacity-search"),
        (["--capacity-min-rate", "1", "--slo", "ttft:100"], "--capacity-min-rate bounds --capacity-search"),
        (
            ["--capacity-search", "--slo", "ttft:100"]
            + ["--capacity-max-rate", "4", "--capacity-min-rate", "8"],
            "--capacity-min-rate 8 is above the highest rate tried (4)",
        ),
        (["--capacity-search", "--slo", "ttft:100", "--capacity-max-rate", "0"], "not in the range x>0"),
    ],
)
def test_bad_load_options_are_one_line_errors_before_any_server(args: list[str], message: str) -> None:
    done = loadgen("compare", *UNREACHABLE, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr, done.stderr
    assert "not ready" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_bad_options_with_launch_fail_before_starting_servers(tmp_path: object) -> None:
    started = time.monotonic()
    done = loadgen("compare", "--launch", "--capacity-search", "--output-dir", str(tmp_path))
    assert done.returncode == 2 and "give at least one --slo" in done.stderr
    assert time.monotonic() - started < 30  # vLLM was not started
    assert "starting" not in done.stderr


def test_capacity_probes_take_an_arrival_process_with_a_closed_loop_sweep() -> None:
    plan = build_plan(
        compare_settings(
            {
                "concurrency": "1",
                "arrival": "gamma",
                "burstiness": 2.0,
                "capacity_search": True,
                "slo": ("ttft:9",),
            }
        )
    )
    assert (plan.mode, plan.arrival, plan.burstiness) == ("closed", "gamma", 2.0)


def test_options_reach_the_plan() -> None:
    plan = build_plan(
        compare_settings(
            {
                "rate": "2,4",
                "arrival": "gamma",
                "burstiness": 0.5,
                "repeats": 3,
                "rerun_client_bound": True,
                "capacity_search": True,
                "slo": ("ttft:500",),
                "capacity_max_rate": 16.0,
                "capacity_steps": 5,
            }
        )
    )
    assert (plan.mode, plan.levels, plan.arrival, plan.burstiness) == ("open", (2.0, 4.0), "gamma", 0.5)
    assert (plan.repeats, plan.rerun_client_bound) == (3, True)
    assert (plan.capacity_search, plan.capacity_max_rate, plan.capacity_steps) == (True, 16.0, 5)
    load = plan.loads()[0]
    assert (load.arrival, load.burstiness, load.rate) == ("gamma", 0.5, 2.0)


def test_min_requests_raises_the_low_levels_only() -> None:
    plan = build_plan(compare_settings({"concurrency": "1,4,64", "min_requests": 32}))
    assert [load.num_requests for load in plan.loads()] == [32, 32, 256]
