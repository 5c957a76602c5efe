"""The record of every batch the server ran: its shape, how long it waited, prefill and per-step time.

Naive batching's cost is in the batches it forms, so the server keeps the last `capacity` of them for
`GET /batches` (the comparison saves them per level; `benchmarks/stability.py` reads them) and feeds
the `hf_server:` histograms. A record is built after its batch ends, from the decoding steps' stamps
that the stepper collected, so nothing is added to the decoding loop itself.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

_NS = 1e-9


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One `generate` call, as it happened."""

    batch_id: int
    rows: int
    fill: float
    """rows / max_batch_size."""
    width: int
    """Padded prompt length."""
    prompt_tokens: int
    padding_fraction: float
    max_new_tokens: int
    steps: int
    """Decoding steps run (the first one is the prefill's)."""
    tokens: int
    """Output tokens the rows made: at most rows x steps. A row that has finished (or whose client
    left) keeps its place in the batch, so the shortfall is the row-steps static batching wastes."""
    wait_s: float
    """Time the batcher held the batch open to fill."""
    started_unix: float
    duration_s: float
    prefill_s: float | None
    """From the call's start to the first step's tokens (prefill and the first token)."""
    decode_step_s_median: float | None
    decode_step_s_mean: float | None
    decode_step_s_max: float | None
    failed: str | None

    def public(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def step_gaps_s(start_ns: int, step_ns: list[int]) -> tuple[float | None, list[float]]:
    """The prefill time and the gaps between successive steps, in seconds."""
    if not step_ns:
        return None, []
    prefill = (step_ns[0] - start_ns) * _NS
    return prefill, [(b - a) * _NS for a, b in zip(step_ns, step_ns[1:], strict=False)]


def build_record(
    *,
    batch_id: int,
    rows: int,
    max_batch_size: int,
    width: int,
    prompt_tokens: int,
    padding_fraction: float,
    max_new_tokens: int,
    tokens: int,
    wait_s: float,
    start_ns: int,
    end_ns: int,
    step_ns: list[int],
    failed: str | None,
) -> tuple[BatchRecord, list[float]]:
    """The batch's record and its decode-step gaps (for the step histogram)."""
    prefill, gaps = step_gaps_s(start_ns, step_ns)
    elapsed_s = (time.perf_counter_ns() - start_ns) * _NS
    record = BatchRecord(
        batch_id=batch_id,
        rows=rows,
        fill=rows / max_batch_size,
        width=width,
        prompt_tokens=prompt_tokens,
        padding_fraction=padding_fraction,
        max_new_tokens=max_new_tokens,
        steps=len(step_ns),
        tokens=tokens,
        wait_s=wait_s,
        started_unix=time.time() - elapsed_s,
        duration_s=(end_ns - start_ns) * _NS,
        prefill_s=prefill,
        decode_step_s_median=statistics.median(gaps) if gaps else None,
        decode_step_s_mean=statistics.fmean(gaps) if gaps else None,
        decode_step_s_max=max(gaps) if gaps else None,
        failed=failed,
    )
    return record, gaps


class BatchLog:
    """The last `capacity` batch records, safe to read from any thread."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._records: deque[BatchRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, record: BatchRecord) -> None:
        """Keep `record` (the oldest one goes once `capacity` are kept)."""
        with self._lock:
            self._records.append(record)

    def after(self, batch_id: int = 0) -> list[BatchRecord]:
        """Records of batches whose id is above `batch_id`, oldest first."""
        with self._lock:
            return [r for r in self._records if r.batch_id > batch_id]
