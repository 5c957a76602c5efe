"""The SSE parser follows the WHATWG event-stream rules and times events by their first byte."""

from __future__ import annotations

import random

from loadgen.sse import SSEEvent, SSEParser


def parse_all(stream: bytes, arrival_ns: int = 1) -> list[SSEEvent]:
    return SSEParser().feed(stream, arrival_ns)


def test_data_lines_dispatch_on_blank_line() -> None:
    events = parse_all(b'data: {"a": 1}\n\ndata: [DONE]\n\n')
    assert [e.data for e in events] == ['{"a": 1}', "[DONE]"]


def test_event_without_blank_line_is_not_dispatched() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: partial\n", 1) == []
    assert parser.has_partial_event


def test_multiple_data_lines_join_with_newline() -> None:
    assert parse_all(b"data: one\ndata: two\n\n")[0].data == "one\ntwo"


def test_comments_are_ignored() -> None:
    events = parse_all(b": keep-alive\n\n: another\ndata: x\n\n")
    assert [e.data for e in events] == ["x"]


def test_only_one_leading_space_is_stripped() -> None:
    assert parse_all(b"data:  two spaces\n\n")[0].data == " two spaces"
    assert parse_all(b"data:none\n\n")[0].data == "none"


def test_field_without_colon_has_empty_value() -> None:
    assert parse_all(b"data\n\n")[0].data == ""


def test_blank_line_with_empty_data_buffer_dispatches_nothing() -> None:
    assert parse_all(b"event: ping\n\n\n\n") == []


def test_event_type_id_and_retry() -> None:
    event = parse_all(b"event: error\nid: 7\nretry: 1500\ndata: boom\n\n")[0]
    assert (event.event, event.id, event.retry_ms, event.data) == ("error", "7", 1500, "boom")


def test_retry_with_non_digits_is_ignored() -> None:
    assert parse_all(b"retry: 15x\ndata: a\n\n")[0].retry_ms is None


def test_id_with_nul_is_ignored() -> None:
    assert parse_all(b"id: a\x00b\ndata: a\n\n")[0].id is None


def test_event_type_defaults_to_message_and_resets() -> None:
    events = parse_all(b"event: custom\ndata: a\n\ndata: b\n\n")
    assert [e.event for e in events] == ["custom", "message"]


def test_crlf_cr_and_lf_line_endings() -> None:
    events = parse_all(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n")
    assert [e.data for e in events] == ["a", "b", "c"]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r", 1) == []
    assert parser.feed(b"\n", 2) == []  # the LF completes the CRLF; it is not a blank line
    events = parser.feed(b"\r\n", 3)
    assert [e.data for e in events] == ["a"]


def test_leading_bom_is_dropped_even_when_split() -> None:
    parser = SSEParser()
    assert parser.feed(b"\xef\xbb", 1) == []
    assert [e.data for e in parser.feed(b"\xbfdata: x\n\n", 2)] == ["x"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse_all(b"data: \xff\n\n")[0].data == "\ufffd"


def test_multibyte_character_split_across_chunks() -> None:
    parser = SSEParser()
    encoded = "data: héllo\n\n".encode()
    split = encoded.index(b"\xc3") + 1
    assert parser.feed(encoded[:split], 1) == []
    assert parser.feed(encoded[split:], 2)[0].data == "héllo"


def test_event_is_stamped_with_arrival_of_its_first_byte() -> None:
    parser = SSEParser()
    assert parser.feed(b"da", 100) == []
    assert parser.feed(b"ta: x\n", 200) == []
    event = parser.feed(b"\ndata: y\n\n", 300)
    assert [(e.data, e.arrival_ns) for e in event] == [("x", 100), ("y", 300)]


def test_comment_before_event_does_not_set_its_stamp() -> None:
    parser = SSEParser()
    parser.feed(b": ping\n", 100)
    assert parser.feed(b"data: x\n\n", 200)[0].arrival_ns == 200


def test_any_chunking_gives_the_same_events() -> None:
    stream = (
        b"".join(f'data: {{"choices":[{{"text":"t{i}"}}]}}\n\n'.encode() for i in range(50))
        + b": c\r\nevent: e\r\ndata: last\r\n\r\ndata: [DONE]\n\n"
    )
    expected = [e.data for e in parse_all(stream)]
    rng = random.Random(7)
    for _ in range(50):
        parser, events, pos = SSEParser(), [], 0
        while pos < len(stream):
            step = rng.randint(1, 40)
            events += parser.feed(stream[pos : pos + step], pos)
            pos += step
        assert [e.data for e in events] == expected
        assert not parser.has_partial_event
