"""Per-request time limits, one definition for every transport: which limit runs out next, and why.

`Timeouts` names four limits. The connect limit belongs to opening a connection (each transport's
pool applies it); the other three run against one request, on `perf_counter_ns()`:

- `total`: from the send stamp to the end of the response;
- `ttft`: from the send stamp until the first content event (`ResponseRecorder.has_content`);
- `idle`: from the last byte sent or received (`ResponseRecorder.last_ns`), once the first content
  event arrived; before it, only where no `ttft` limit is set. A request queued behind a saturated
  server (every request sent at once) waits silently for its first token: that wait is the `ttft`
  limit's, or a 120 s idle limit would fail requests that a 300 s TTFT limit allows.

A transport asks `next_deadline` when it (re)arms its timer, or before each blocking read, and
fails a request whose deadline passed with `errors.TIMEOUT` and `timeout_message`, so a timeout
reads the same whichever client hit it.
"""

from __future__ import annotations

from typing import Final, Literal

from loadgen.client.recorder import ResponseRecorder
from loadgen.run_config import Timeouts

Limit = Literal["total", "ttft", "idle"]

TOTAL: Final = "total"
TTFT: Final = "ttft"
IDLE: Final = "idle"


def next_deadline(timeouts: Timeouts, recorder: ResponseRecorder) -> tuple[int, Limit] | None:
    """The earliest limit still running: `(perf_counter_ns deadline, which limit)`, or None.

    Ties go to `total`, then `ttft`, then `idle`.
    """
    send = recorder.record.send_ns
    best: tuple[int, Limit] | None = None
    if timeouts.total_s is not None:
        best = (send + int(timeouts.total_s * 1e9), TOTAL)
    if timeouts.ttft_s is not None and not recorder.has_content:
        ttft = send + int(timeouts.ttft_s * 1e9)
        if best is None or ttft < best[0]:
            best = (ttft, TTFT)
    if timeouts.idle_s is not None and (recorder.has_content or timeouts.ttft_s is None):
        idle = recorder.last_ns + int(timeouts.idle_s * 1e9)
        if best is None or idle < best[0]:
            best = (idle, IDLE)
    return best


def timeout_message(timeouts: Timeouts, which: Limit) -> str:
    """Why a request timed out, for its record (`which` as `next_deadline` named it)."""
    if which == TTFT:
        return f"no token within {timeouts.ttft_s:g} s"
    if which == IDLE:
        return f"nothing received for {timeouts.idle_s:g} s"
    return f"no complete response within {timeouts.total_s:g} s"
