"""What one finished request reports to locust's statistics.

Each request fires locust's `request` event once for the whole request (`POST <path>`, response
time = end-to-end latency, response length = output tokens, so locust's "size" column reads tokens
per request). A successful request also fires one entry each for its time to first token (`TTFT`),
its mean inter-token latency (`ITL`) and its time per output token (`TPOT`), all in milliseconds
and from the `RequestRecord` properties, so they show up as rows and charts in the web UI, in
`--csv`/`--json` output, and on the master when distributed (locust merges these like any request).
A failed request fires the whole-request entry with a `RequestFailed` naming its error class.
"""

from __future__ import annotations

from typing import Any

from loadgen.record import RequestRecord

NS_PER_MS = 1e6
TTFT, ITL, TPOT = "TTFT", "ITL", "TPOT"
MESSAGE_LIMIT = 200


class RequestFailed(Exception):
    """A failed request as locust shows it: `<error class>: <message>`."""

    def __init__(self, error_class: str, message: str | None) -> None:
        text = (message or "").strip()
        if len(text) > MESSAGE_LIMIT:
            text = text[: MESSAGE_LIMIT - 3] + "..."
        super().__init__(f"{error_class}: {text}" if text else error_class)
        self.error_class = error_class

    def __repr__(self) -> str:
        return str(self)


def fire_request_entries(events: Any, record: RequestRecord, name: str) -> None:
    """Fire locust's `request` event for `record`, plus its TTFT/ITL/TPOT entries when it succeeded."""
    fire = events.request.fire
    e2e = record.e2e_ns or 0
    context = {"request_id": record.request_id, "level": record.level, "warmup": record.warmup}
    fire(
        request_type="POST",
        name=name,
        response_time=e2e / NS_PER_MS,
        response_length=record.output_tokens or 0,
        context=context,
        exception=None if record.ok else RequestFailed(record.error_class or "unknown", record.error_message),
    )
    if not record.ok:
        return
    gaps = record.itls_ns
    mean_itl = sum(gaps) / len(gaps) if gaps else None
    for kind, value_ns in ((TTFT, record.ttft_ns), (ITL, mean_itl), (TPOT, record.tpot_ns)):
        if value_ns is not None:
            fire(
                request_type=kind,
                name=name,
                response_time=value_ns / NS_PER_MS,
                response_length=0,
                context=context,
                exception=None,
            )
