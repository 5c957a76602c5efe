"""benchmarks.hf_overhead: the headline ratio, both sides' ms per step, and the in-process generate loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.hf_overhead import ServerRun, server_batches, summarize


def test_a_row_holds_the_median_ratio_and_both_sides_step_times() -> None:
    # batch 4 x 10 tokens = 40 tokens; direct calls of 0.2 s and 0.4 s (200 and 100 tok/s)
    waves = [ServerRun(tokens=40, window_s=0.4, failed=0), ServerRun(tokens=40, window_s=0.4, failed=0)]
    row = summarize(4, 10, [0.2, 0.4], waves, "test", [15.0, None], [1, 2], [0.25, None])
    assert row.direct_tok_s == pytest.approx(150.0)
    assert row.server_tok_s == pytest.approx(100.0)
    assert (row.ratio_low, row.ratio_high) == (pytest.approx(0.5), pytest.approx(1.0))
    assert row.direct_step_ms == [pytest.approx(20.0), pytest.approx(40.0)]
    assert row.server_step_ms == [15.0, None]
    assert row.server_failed == 0
    assert row.server_batches == [1, 2] and row.split_waves == 1
    # round 1: direct 0.2 s / generate 0.25 s = 80%; generate 0.25 s / window 0.4 s = 62.5%
    assert row.generate_share == pytest.approx(0.8)
    assert row.delivery_share == pytest.approx(0.625)


def test_a_wave_short_of_tokens_counts_as_failed() -> None:
    row = summarize(2, 10, [0.1], [ServerRun(tokens=19, window_s=0.1, failed=0)], "test")
    assert row.server_failed == 1 and row.server_step_ms == []


class _Batches:
    def __init__(self, digest: dict[str, Any] | None) -> None:
        self.digest = digest
        self.labels: list[str] = []

    def collect(self, target_name: str, label: str) -> dict[str, Any] | None:
        self.labels.append(f"{target_name}:{label}")
        return self.digest


def test_the_server_side_step_is_the_batch_records_median_and_count() -> None:
    batches = _Batches({"batches": 2, "decode_step_ms_p50": 12.5, "generate_s_total": 3.0})
    assert server_batches(batches, "b4-round1") == (12.5, 2, 3.0)  # type: ignore[arg-type]
    assert batches.labels == ["hf:b4-round1"]
    assert server_batches(_Batches(None), "b4-round2") == (None, None, None)  # type: ignore[arg-type]
    assert server_batches(_Batches({"batches": 0}), "b4-round3") == (None, 0, None)  # type: ignore[arg-type]


def test_the_step_clock_stops_no_row_and_times_the_gaps_between_steps() -> None:
    import torch

    from benchmarks.hf_overhead import StepClock

    clock = StepClock()
    assert clock.median_step_ms() is None
    for _ in range(3):
        done = clock(torch.zeros((4, 7), dtype=torch.long), None)
        assert done.shape == (4,) and not bool(done.any())
    clock.stamps_ns[:] = [0, 10_000_000, 30_000_000]  # gaps of 10 and 20 ms
    assert clock.median_step_ms() == pytest.approx(15.0)


def test_a_row_keeps_the_direct_decode_steps_beside_the_servers() -> None:
    row = summarize(1, 4, [0.1], [ServerRun(4, 0.1, 0)], "test", [9.0], [1], [0.09], [8.5])
    assert row.direct_decode_step_ms == [8.5] and row.server_step_ms == [9.0]


def test_the_in_process_loop_share_is_the_direct_call_over_the_loop() -> None:
    row = summarize(1, 4, [0.1, 0.2], [ServerRun(4, 0.1, 0)] * 2, "test", loop_call_s=[0.125, 0.2])
    assert row.loop_share == pytest.approx(0.9)  # median of 80% and 100%
    assert summarize(1, 4, [0.1], [ServerRun(4, 0.1, 0)], "test").loop_share is None


def test_the_in_process_loop_runs_the_servers_generate_loop_on_the_direct_calls_batch(
    smollm2_dir: Path,
) -> None:
    from benchmarks.hf_overhead import DirectGenerate, InProcessLoop, Setup, exact_length_prompts, load_direct

    setup = Setup(smollm2_dir, "cpu", "auto", False, None, "auto", 8, 5, 1, 2000.0, 0, 1, in_process=True)
    loaded = load_direct(setup)
    prompts = exact_length_prompts(loaded.tokenizer, 2, setup.input_len, 0)
    loop = InProcessLoop(loaded, prompts, setup)
    assert loop.once() > 0  # asserts inside: every row got exactly output-len tokens
    assert DirectGenerate(loaded, prompts, setup).once() > 0  # the direct call still works after it
    (step_ms,) = loop.decode_step_ms
    assert step_ms is not None and step_ms > 0
