"""Exit statuses of `loadgen run` and `loadgen compare`, and the failed-request rule behind two of them.

| status | meaning |
|---|---|
| 0 | every level ran, failed requests at or below `--max-error-rate` |
| 2 | bad input, or a server that cannot be reached before the run starts |
| 3 | `compare`: a parity gate failed |
| 4 | failed requests above `--max-error-rate` (for some target) |
| 5 | no measured request succeeded (for some target): nothing listening, the server died, ... |
| 6 | `run`: results could not be written (a full disk): the run stopped, whole lines kept |
| 130 | interrupted (Ctrl-C, SIGTERM) |

The default `--max-error-rate` is 0: the latency figures of a summary cover successful requests only,
so any failed request means they describe a subset of the load that was asked for, and a script or
CI job should notice. Pass a small fraction (`--max-error-rate 0.01`) where some failures are
expected, e.g. overload levels meant to find the breaking point. Requests cancelled by a stop do not
count (a stopped run exits 130).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from loadgen import errors

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_PARITY_FAILED: Final = 3
EXIT_ERRORS_ABOVE_LIMIT: Final = 4
EXIT_NOTHING_SUCCEEDED: Final = 5
EXIT_WRITE_FAILED: Final = 6
EXIT_INTERRUPTED: Final = 130

DEFAULT_MAX_ERROR_RATE: Final = 0.0


@dataclass(frozen=True)
class ErrorVerdict:
    """The exit status the failed requests call for, and a one-line reason (None when 0)."""

    code: int
    message: str | None = None


def _counts(summaries: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per target: (measured requests that succeeded, measured requests that failed, cancels left out)."""
    out: dict[str, tuple[int, int]] = {}
    for summary in summaries:
        target = str(summary.get("target", "?"))
        cancelled = int((summary.get("errors") or {}).get(errors.CANCELLED, 0))
        ok, failed = out.get(target, (0, 0))
        out[target] = (
            ok + int(summary.get("completed") or 0),
            failed + int(summary.get("failed") or 0) - cancelled,
        )
    return out


def error_verdict(summaries: Iterable[Mapping[str, Any]], max_error_rate: float) -> ErrorVerdict:
    """Judge each target's failed requests over all its levels: 5 if none succeeded, 4 above the limit."""
    counts = _counts(summaries)
    dead = [f"{t} ({failed} failed)" for t, (ok, failed) in counts.items() if ok == 0 and failed > 0]
    if dead:
        return ErrorVerdict(EXIT_NOTHING_SUCCEEDED, f"no request succeeded on {', '.join(dead)}")
    over = [
        f"{t}: {failed} of {ok + failed} failed ({100 * failed / (ok + failed):.1f}%)"
        for t, (ok, failed) in counts.items()
        if ok + failed and failed / (ok + failed) > max_error_rate
    ]
    if over:
        return ErrorVerdict(
            EXIT_ERRORS_ABOVE_LIMIT,
            f"failed requests above --max-error-rate {max_error_rate:g}: {'; '.join(over)}",
        )
    return ErrorVerdict(EXIT_OK)
