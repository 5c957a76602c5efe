"""The verdict's description of the traffic, from whatever the run's workload records."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.report.traffic import load_text, traffic_text, workload_text

CLOSED = {"mode": "closed", "concurrency": 8}


@pytest.mark.parametrize(
    ("workload", "text"),
    [
        ({"kind": "synthetic", "input_len": 128, "output_len": 32}, "synthetic 128 in / 32 out"),
        (
            {"kind": "synthetic", "input_len_dist": "fixed:128", "output_len_dist": "exponential:64,512"},
            "synthetic 128 in / exponential:64,512 out",
        ),
        (
            {"kind": "synthetic", "output_len_dist": {"spec": "uniform:16,48"}},
            "synthetic ? in / uniform:16,48 out",
        ),
        ({"kind": "sharegpt", "dataset_path": "/data/sg.json"}, "ShareGPT lengths"),
        ({"kind": "jsonl", "dataset_path": "/data/mine.jsonl"}, "JSONL prompts (mine.jsonl)"),
        ({"kind": "test"}, "test"),
        ({}, "unknown workload"),
    ],
)
def test_workload_text_uses_what_the_run_recorded(workload: dict[str, Any], text: str) -> None:
    assert workload_text(workload) == text


def test_load_text_closed_and_open() -> None:
    assert load_text(CLOSED) == "closed loop, concurrency 8"
    assert load_text({"mode": "open", "rate": 4.0, "arrival": "poisson"}) == (
        "open loop, poisson arrivals at 4 req/s"
    )
    assert load_text(
        {"mode": "open", "rate": 2.5, "arrival": "gamma", "burstiness": 0.5, "concurrency": 16}
    ) == ("open loop, gamma (burstiness 0.5) arrivals at 2.5 req/s (at most 16 in flight)")


def test_traffic_text_adds_parallel_sampling_and_repeats() -> None:
    meta = {"workload": {"kind": "sharegpt"}, "request": {"n": 2}}
    assert traffic_text(meta, CLOSED, 3) == (
        "ShareGPT lengths, 2 completions per request, closed loop, concurrency 8, 3 repeats"
    )
    assert traffic_text({"workload": {"kind": "sharegpt"}, "request": {"n": 1}}, CLOSED, 1) == (
        "ShareGPT lengths, closed loop, concurrency 8, 1 run"
    )
