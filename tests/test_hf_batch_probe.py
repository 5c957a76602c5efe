"""`benchmarks.hf_batch_probe`'s arithmetic (the measuring part needs CUDA and runs on the GPU host)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from benchmarks.hf_batch_probe import (
    BatchTry,
    MemoryLine,
    build_parser,
    cache_rest_per_row,
    fit_line,
    kv_bytes_per_token,
    largest_batch,
    main,
    probe_peaks,
    try_batches,
)

GIB = 2**30
LLAMA_2_7B = SimpleNamespace(
    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, hidden_size=4096
)


def test_kv_cache_per_token_follows_the_shape() -> None:
    assert kv_bytes_per_token(LLAMA_2_7B, 2) == 2 * 32 * 32 * 128 * 2  # 512 KiB: Llama-2-7B in bf16
    qwen = SimpleNamespace(
        num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, hidden_size=3584
    )
    assert kv_bytes_per_token(qwen, 2) == 2 * 28 * 4 * 128 * 2


def test_the_rest_of_the_cache_covers_the_output_and_one_growing_layer() -> None:
    per_token = kv_bytes_per_token(LLAMA_2_7B, 2)
    assert cache_rest_per_row(LLAMA_2_7B, 2, 1024, 2048) == per_token * 1024 + per_token / 32 * 2048


def test_two_probes_give_a_line_and_the_largest_batch_under_the_budget() -> None:
    line = fit_line((4, 16), (14 * GIB, 20 * GIB), cache_rest=0.25 * GIB)
    assert line.fixed_bytes == pytest.approx(12 * GIB) and line.per_row_bytes == pytest.approx(0.5 * GIB)
    # 64 GiB less 5% = 60.8; (60.8 - 12) / 0.75 = 65.07 -> 65 rows fit -> 64 (a multiple of 8)
    assert largest_batch(line, 64 * GIB, cap=1024) == 64
    assert line.peak(64) <= 64 * GIB * 0.95
    assert largest_batch(line, 64 * GIB, cap=40) == 40
    small = MemoryLine(12 * GIB, 0.5 * GIB, 0.5 * GIB)
    assert largest_batch(small, 16 * GIB, cap=1024) == 3  # fewer than 8 rows fit: taken as is
    assert largest_batch(line, 8 * GIB, cap=1024) == 0  # the weights alone do not fit


def test_a_line_that_does_not_grow_is_an_error() -> None:
    with pytest.raises(ValueError, match="did not grow"):
        fit_line((4, 16), (20 * GIB, 20 * GIB), 0)
    with pytest.raises(ValueError, match="larger"):
        fit_line((16, 4), (20 * GIB, 14 * GIB), 0)


class OutOfMemory(RuntimeError):
    pass


def memory(limit_rows: int, tried: list[int]) -> Callable[[int], float]:
    """A stand-in measurement: 24 GiB of weights and 0.8 GiB a row, out of memory above `limit_rows`."""

    def measure(batch: int) -> float:
        tried.append(batch)
        if batch > limit_rows:
            raise OutOfMemory("CUDA out of memory")
        return 24 * GIB + 0.8 * GIB * batch

    return measure


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, OutOfMemory)


def test_a_probe_that_runs_out_of_memory_is_halved() -> None:
    tried: list[int] = []
    batches, peaks = probe_peaks(memory(10, tried), (4, 16), is_oom)
    assert tried == [4, 16, 8] and batches == (4, 8)  # 16 rows of 1,024 tokens did not fit a 13B shape
    assert peaks == (24 * GIB + 3.2 * GIB, 24 * GIB + 6.4 * GIB)
    tried.clear()
    assert probe_peaks(memory(3, tried), (4, 16), is_oom)[0] == (2, 3)
    assert tried == [4, 2, 16, 8, 4, 3]
    with pytest.raises(OutOfMemory):  # not even one row: the weights alone fill the budget
        probe_peaks(memory(0, []), (4, 16), is_oom)
    with pytest.raises(ValueError, match="other"):  # only out of memory is retried
        probe_peaks(lambda batch: (_ for _ in ()).throw(ValueError("other")), (4, 16), is_oom)


def test_tried_batches_stop_at_the_first_out_of_memory_and_keep_the_allocator_state() -> None:
    tried: list[int] = []
    tries = try_batches(memory(88, tried), (96, 80, 88, 112, 104), is_oom, lambda: (23 * GIB, 20.5 * GIB))
    assert tried == [80, 88, 96]  # ascending; 104 and 112 are not tried once 96 failed
    assert [t.batch for t in tries] == [80, 88, 96] and [t.fits for t in tries] == [True, True, False]
    assert tries[1].peak_bytes == 24 * GIB + 0.8 * GIB * 88 and tries[1].seconds is not None
    assert tries[2] == BatchTry(
        96, False, error="CUDA out of memory", reserved_bytes=23 * GIB, allocated_bytes=20.5 * GIB
    )
    assert all(t.fits for t in try_batches(memory(200, []), (8, 16), is_oom, lambda: (0.0, 0.0)))
    with pytest.raises(ValueError, match="other"):  # only out of memory ends a try quietly
        try_batches(
            lambda batch: (_ for _ in ()).throw(ValueError("other")), (8,), is_oom, lambda: (0.0, 0.0)
        )
    assert build_parser().parse_args(["--model-dir", "m", "--try-batches", "80,96"]).try_batches == (80, 96)


def test_on_cpu_the_probe_says_it_needs_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model-dir", "x", "--device", "cpu"]) == 2
    assert "CUDA" in capsys.readouterr().err
