"""The client's fast path reads every stream exactly as the shared SSE parser + `openai_stream` do."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from loadgen.client.events import plain_chunk
from loadgen.client.recorder import ResponseRecorder
from loadgen.openai_stream import parse_stream_event
from loadgen.record import RequestRecord
from loadgen.sse import SSEParser

PAYLOADS: list[Any] = [
    {"choices": [{"index": 0, "text": " word", "logprobs": None, "finish_reason": None}]},
    {"choices": [{"index": 0, "text": "", "finish_reason": "length"}]},
    {"choices": [{"index": 0, "text": "end", "finish_reason": "stop", "stop_reason": None}]},
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"reasoning_content": "think", "content": None}}]},
    {"choices": [{"index": 0, "delta": {"reasoning": "r", "content": "c"}}]},
    {"choices": [{"index": 0, "delta": {}}], "usage": None},
    {"choices": [{"index": 0, "delta": None}]},
    {"choices": [{"index": 0, "text": 5}]},
    {"choices": [{"index": 0, "text": "a"}, {"index": 1, "text": "b"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}},
    {"choices": [{"index": 0, "text": "x"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    {"error": {"message": "boom", "type": "server_error"}},
    {"error": None, "choices": [{"index": 0, "text": "x"}]},
    {"object": "error", "message": "bad"},
    {"choices": "nope"},
    {"choices": [["not", "a", "dict"]]},
    {"unrelated": 1},
    [1, 2, 3],
    "just a string",
]


def slow_view(data: str) -> tuple[Any, ...]:
    item = parse_stream_event(data)
    usage = None if item.usage is None else (item.usage.prompt_tokens, item.usage.completion_tokens)
    return item.text, item.finish_reason, usage, item.error_class, item.done


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_plain_chunk_agrees_with_openai_stream_or_declines(payload: Any) -> None:
    fast = plain_chunk(payload)
    text, reason, usage, error, done = slow_view(orjson.dumps(payload).decode())
    if fast is not None:
        assert (fast[0], fast[1], None, None, False) == (text, reason, usage, error, done)


def record_of(pieces: list[bytes]) -> RequestRecord:
    record = RequestRecord(request_id="r", target="t", index=0, api="chat", stream=True, send_ns=0)
    recorder = ResponseRecorder(record, keep_text=True, counter=None)
    recorder.on_status(200, 1)
    for i, piece in enumerate(pieces):
        recorder.on_body(piece, 10 + i)
    return recorder.finish(100)


def reference(pieces: list[bytes]) -> tuple[Any, ...]:
    """What the shared parser and interpreter alone make of the same pieces."""
    parser, content, texts, done, error, reason, usage = SSEParser(), [], [], False, None, None, None
    for i, piece in enumerate(pieces):
        for event in parser.feed(piece, 10 + i):
            if done or error:
                continue
            item = parse_stream_event(event.data)
            if item.error_class:
                error = item.error_class
            elif item.done:
                done = True
            else:
                if item.text:
                    content.append(event.arrival_ns)
                    texts.append(item.text)
                reason = item.finish_reason or reason
                usage = (
                    usage if item.usage is None else (item.usage.prompt_tokens, item.usage.completion_tokens)
                )
    return content, "".join(texts), error, reason, usage


def view(record: RequestRecord) -> tuple[Any, ...]:
    usage = None if record.tokens_source != "usage" else (record.prompt_tokens, record.output_tokens)
    error = record.error_class if record.error_class in ("malformed_sse", "inband_error") else None
    return record.content_ns, record.output_text or "", error, record.finish_reason, usage


EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"ab"}}]}\n\n'
STREAMS = {
    "one event per piece": [
        EVENT,
        EVENT,
        b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n',
        b"data: [DONE]\n\n",
    ],
    "many events per piece": [EVENT * 3 + b"data: [DONE]\n\n"],
    "comment between events": [EVENT + b": ping\n\n" + EVENT, b"data: [DONE]\n\n"],
    "crlf line ends": [EVENT.replace(b"\n", b"\r\n"), EVENT, b"data: [DONE]\r\n\r\n"],
    "cr split across pieces": [EVENT[:-1] + b"\r", b"\n" + EVENT],
    "event split across pieces": [EVENT[:20], EVENT[20:] + EVENT],
    "data without space": [b'data:{"choices":[{"index":0,"text":"x"}]}\n\n', EVENT],
    "two spaces keep one": [b'data:  {"choices":[{"index":0,"text":"x"}]}\n\n'],
    "multi-line data": [b'data: {"choices":\ndata: [{"index":0,"text":"x"}]}\n\n', EVENT],
    "id and event fields": [b"id: 7\nevent: message\n" + EVENT, EVENT],
    "empty data": [b"data: \n\n", EVENT],
    "malformed json": [b"data: {nope\n\n", EVENT],
    "inband error": [EVENT, b'data: {"error":{"message":"x"}}\n\n', EVENT],
    "events after done": [b"data: [DONE]\n\n" + EVENT],
    "invalid utf-8": [b'data: {"choices":[{"index":0,"text":"\xff"}]}\n\n'],
    "bom first": [b"\xef\xbb\xbf" + EVENT, EVENT],
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_recorder_matches_the_reference_reading(name: str) -> None:
    pieces = STREAMS[name]
    assert view(record_of(pieces)) == reference(pieces)


def test_recorder_matches_reference_for_every_two_way_split_of_a_mixed_stream() -> None:
    stream = b"".join(STREAMS["comment between events"] + STREAMS["inband error"] + STREAMS["crlf line ends"])
    for cut in range(1, len(stream)):
        pieces = [stream[:cut], stream[cut:]]
        assert view(record_of(pieces)) == reference(pieces), cut


@pytest.mark.parametrize("name", list(STREAMS))
async def test_connection_hot_path_matches_the_reference_reading(name: str) -> None:
    """Each piece as one HTTP chunk through the lean client's in-place framing check."""
    from tests.test_client_http1 import start_exchange

    pieces = STREAMS[name]
    record = RequestRecord(request_id="r", target="t", index=0, api="chat", stream=True, send_ns=0)
    recorder = ResponseRecorder(record, keep_text=True, counter=None)
    conn, future = start_exchange(recorder)
    conn.data_received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    stamps = []
    for piece in pieces:
        conn.data_received(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        stamps.append(recorder.last_ns)
    conn.data_received(b"0\r\n\r\n")
    await future
    content, text, error, reason, usage = view(record)
    ref_content, *ref_rest = reference(pieces)
    assert [stamps.index(ns) for ns in content] == ref_content_indices(ref_content)
    assert (text, error, reason, usage) == tuple(ref_rest)


def ref_content_indices(content: list[int]) -> list[int]:
    """The reference stamps pieces 10, 11, ...: turn them back into piece indices."""
    return [ns - 10 for ns in content]
