"""`TextSlot`: reading a chunk's text straight from its bytes gives what parsing the JSON gives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from loadgen.client.events import TextSlot, learn_slot, plain_chunk
from loadgen.client.recorder import ResponseRecorder
from loadgen.record import RequestRecord
from tests.test_client_events import reference, view
from tests.test_client_http1 import start_exchange


def completion(text: Any, reason: Any = None, **extra: Any) -> bytes:
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": reason}],
        **extra,
    }
    return orjson.dumps(chunk)


def chat(content: Any) -> bytes:
    return orjson.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": content}}]})


SLOT_TEXT = " the"
TEMPLATE = completion(SLOT_TEXT)
# Bytes that fit the template's shape (or nearly): each must read as plain_chunk(loads(...)) reads it.
CANDIDATES = [
    completion(" word"),
    completion(""),
    completion("é ü 漢字 🙂"),
    completion('say "hi"'),
    completion("back\\slash"),
    completion("tab\there"),
    completion("line\nbreak"),
    completion("\u2028sep"),
    completion(" word", "length"),
    completion(" word", usage={"prompt_tokens": 1, "completion_tokens": 2}),
    completion(5),
    TEMPLATE.replace(b" the", b"\\u0041"),
    TEMPLATE.replace(b" the", b"\xff\xfe"),
    TEMPLATE.replace(b" the", b"\xed\xa0\x80"),  # an encoded surrogate: not UTF-8
    TEMPLATE.replace(b" the", b"\x7f"),
    TEMPLATE.replace(b" the", b"a\x01b"),
    TEMPLATE.replace(b'"id":"cmpl-1"', b'"id":"cmpl-2"'),
    TEMPLATE.replace(b"}]}", b"}]} "),
    TEMPLATE[:-1],
]


def full_reading(raw: bytes) -> tuple[str, str | None] | None:
    try:
        return plain_chunk(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def test_learned_slot_cuts_around_the_text_value() -> None:
    slot = learn_slot(TEMPLATE, SLOT_TEXT)
    assert slot is not None
    assert slot.head.endswith(b'"text":"') and slot.tail.startswith(b'","logprobs"')


@pytest.mark.parametrize("raw", CANDIDATES, ids=range(len(CANDIDATES)))
def test_slot_reading_equals_the_json_reading_or_declines(raw: bytes) -> None:
    slot = learn_slot(TEMPLATE, SLOT_TEXT)
    assert slot is not None
    fast = slot.text(raw)
    if fast is not None:
        assert (fast, None) == full_reading(raw)


def test_slot_accepts_the_plain_texts() -> None:
    slot = learn_slot(TEMPLATE, SLOT_TEXT)
    assert slot is not None
    assert [slot.text(completion(t)) for t in (" word", "", "é 漢字")] == [" word", "", "é 漢字"]


def test_text_that_also_appears_elsewhere_is_located_by_proof() -> None:
    # The text literal first occurs as the id and the model: only the real text slot passes the probe.
    raw = orjson.dumps({"id": "x", "model": "x", "choices": [{"index": 0, "text": "x"}]})
    slot = learn_slot(raw, "x")
    assert slot is not None and slot.text(raw.replace(b'"text":"x"', b'"text":"yz"')) == "yz"
    assert slot.text(raw.replace(b'"id":"x"', b'"id":"q"')) is None


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (orjson.dumps({"choices": [{"index": 0, "text": "x"}], "usage": {"a": "x"}}), "x"),
        (completion("a\\b"), "a\\b"),
        (orjson.dumps({"text": "k", "choices": [{"index": 0, "delta": {"content": "k"}}]}), "k"),
    ],
)
def test_slots_are_only_learned_where_the_probe_proves_them(raw: bytes, text: str) -> None:
    slot = learn_slot(raw, text)
    if slot is not None:
        probe = raw.replace(orjson.dumps(text), b'"zz"')
        for candidate in (probe, raw):
            got = slot.text(candidate)
            assert got is None or (got, None) == full_reading(candidate)


def test_a_slot_never_spans_lines() -> None:
    with pytest.raises(ValueError):
        TextSlot(b'{"text":"', b'"}\n')


def sse_event(raw: bytes) -> bytes:
    return b"data: " + raw + b"\n\n"


SLOT_STREAMS = {
    "completions": [sse_event(completion(t)) for t in (" a", " b", "", " é", ' "q"', " c")]
    + [sse_event(completion(" d", "length")), b"data: [DONE]\n\n"],
    "changing ids": [sse_event(completion(" a", id=f"c{i}")) for i in range(6)] + [b"data: [DONE]\n\n"],
    "odd bytes": [sse_event(completion(" a"))] * 2
    + [sse_event(TEMPLATE.replace(b" the", raw)) for raw in (b"\xff", b"a\x01", b"\\u0041", b"\\\\")]
    + [sse_event(completion(" z")), b"data: [DONE]\n\n"],
    "chat": [sse_event(chat(t)) for t in ("", "Hel", "lo", "!")] + [b"data: [DONE]\n\n"],
    "events after done": [sse_event(completion(" a"))] * 3
    + [b"data: [DONE]\n\n"]
    + [sse_event(completion(" late"))] * 2,
    "error mid-stream": [sse_event(completion(" a"))] * 3
    + [sse_event(b'{"error":{"message":"x"}}'), sse_event(completion(" after"))],
}


def chunk(piece: bytes) -> bytes:
    return f"{len(piece):x}\r\n".encode() + piece + b"\r\n"


async def connection_record(reads: list[bytes]) -> RequestRecord:
    record = RequestRecord(request_id="r", target="t", index=0, api="chat", stream=True, send_ns=0)
    conn, future = start_exchange(ResponseRecorder(record, keep_text=True, counter=None))
    conn.data_received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    for data in reads:
        conn.data_received(data)
    if not future.done():
        conn.connection_lost(None)
    await future
    return record


@pytest.mark.parametrize("name", list(SLOT_STREAMS))
async def test_many_chunks_per_read_give_the_reference_reading(name: str) -> None:
    """All chunks in one read, and the same bytes cut at every point into two reads."""
    pieces = SLOT_STREAMS[name]
    body = b"".join(chunk(p) for p in pieces) + b"0\r\n\r\n"
    _, text, error, reason, usage = reference([b"".join(pieces)])
    expected_events = len(reference(pieces)[0])
    for cut in [len(body), *range(1, len(body), 7)]:
        record = await connection_record([body[:cut], body[cut:]] if cut < len(body) else [body])
        content, got_text, got_error, got_reason, got_usage = view(record)
        assert (got_text, got_error, got_reason, got_usage) == (text, error, reason, usage), cut
        assert len(content) == expected_events, cut


@pytest.mark.parametrize("name", list(SLOT_STREAMS))
async def test_one_chunk_per_read_gives_the_reference_stamps(name: str) -> None:
    pieces = SLOT_STREAMS[name]
    record = await connection_record([chunk(p) for p in pieces] + [b"0\r\n\r\n"])
    ref_content, *ref_rest = reference(pieces)
    content, *rest = view(record)
    assert rest == ref_rest
    assert len(content) == len(ref_content)


async def test_events_that_fit_the_slot_are_not_parsed_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    import loadgen.client.recorder as recorder_module

    parsed: list[bytes] = []
    real_loads = orjson.loads

    def counting_loads(raw: bytes) -> Any:
        parsed.append(raw)
        return real_loads(raw)

    monkeypatch.setattr(recorder_module, "loads", counting_loads)
    pieces = [sse_event(completion(f" w{i}")) for i in range(50)] + [b"data: [DONE]\n\n"]
    body = b"".join(chunk(p) for p in pieces) + b"0\r\n\r\n"
    record = await connection_record([body[:300], body[300:]])
    assert record.ok and len(record.content_ns) == 50
    assert record.output_text == "".join(f" w{i}" for i in range(50))
    assert len(parsed) == 1  # only the first event, from which the slot is learned
