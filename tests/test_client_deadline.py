"""Per-request time limits: one definition of which limit runs out next and how it is reported."""

from __future__ import annotations

import pytest

from loadgen.client.deadline import next_deadline, timeout_message
from loadgen.client.recorder import ResponseRecorder
from loadgen.record import RequestRecord
from loadgen.run_config import Timeouts

S = 1_000_000_000


def recorder(send_ns: int = 10 * S) -> ResponseRecorder:
    record = RequestRecord(request_id="r", target="t", index=0, api="completions", stream=True, send_ns=0)
    rec = ResponseRecorder(record, keep_text=False, counter=None)
    rec.on_send(send_ns)
    return rec


def content(rec: ResponseRecorder, arrival_ns: int) -> None:
    rec.on_status(200, arrival_ns)
    rec.on_body(b'data: {"choices":[{"index":0,"text":"x"}]}\n\n', arrival_ns)


def test_no_limits_no_deadline() -> None:
    assert next_deadline(Timeouts(ttft_s=None, idle_s=None, total_s=None), recorder()) is None


def test_time_to_first_token_runs_until_the_first_content_event() -> None:
    limits = Timeouts(ttft_s=1.0, idle_s=5.0, total_s=9.0)
    rec = recorder()
    assert next_deadline(limits, rec) == (11 * S, "ttft")
    rec.on_status(200, 10 * S + 100)  # a head, or a role-only chunk, is no content
    role_only = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    rec.on_body(role_only, 10 * S + 200)
    assert next_deadline(limits, rec) == (11 * S, "ttft")
    content(rec, 10 * S + 500)
    assert next_deadline(limits, rec) == (15 * S + 500, "idle")  # idle counts from the last byte


def test_before_the_first_token_the_ttft_limit_governs_not_idle() -> None:
    # A request queued behind a saturated server hears nothing until its first token: a 120 s idle
    # limit must not cut a wait the 300 s TTFT limit allows (the H100 claims run lost 65 of 128).
    limits = Timeouts(ttft_s=300.0, idle_s=120.0, total_s=900.0)
    rec = recorder()
    assert next_deadline(limits, rec) == (310 * S, "ttft")
    content(rec, 200 * S)
    assert next_deadline(limits, rec) == (320 * S, "idle")


def test_without_a_ttft_limit_idle_covers_the_wait_for_the_first_token() -> None:
    assert next_deadline(Timeouts(ttft_s=None, idle_s=5.0, total_s=None), recorder()) == (15 * S, "idle")


def test_total_wins_once_it_is_the_earliest_and_ties_go_to_total() -> None:
    rec = recorder()
    content(rec, 18 * S)
    assert next_deadline(Timeouts(ttft_s=1.0, idle_s=5.0, total_s=9.0), rec) == (19 * S, "total")
    assert next_deadline(Timeouts(ttft_s=2.0, idle_s=2.0, total_s=2.0), recorder()) == (12 * S, "total")


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("ttft", "no token within 0.5 s"),
        ("idle", "nothing received for 2 s"),
        ("total", "no complete response within 30 s"),
    ],
)
def test_each_limit_says_which_it_was(which: str, message: str) -> None:
    limits = Timeouts(ttft_s=0.5, idle_s=2.0, total_s=30.0)
    assert timeout_message(limits, which) == message  # type: ignore[arg-type]
