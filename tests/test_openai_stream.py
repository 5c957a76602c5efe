"""Interpreting OpenAI stream events: content, role-only chunks, usage, finish, errors."""

from __future__ import annotations

import orjson

from loadgen.openai_stream import Usage, parse_response_body, parse_stream_event


def event(payload: object) -> str:
    return orjson.dumps(payload).decode()


def test_done_sentinel() -> None:
    assert parse_stream_event("[DONE]").done


def test_completion_chunk_text_is_content() -> None:
    item = parse_stream_event(event({"choices": [{"index": 0, "text": " Paris", "finish_reason": None}]}))
    assert item.has_content and item.text == " Paris" and item.finish_reason is None


def test_chat_role_only_first_chunk_is_not_content() -> None:
    item = parse_stream_event(
        event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    )
    assert not item.has_content
    assert item.error_class is None


def test_chat_delta_content_is_content() -> None:
    item = parse_stream_event(event({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}))
    assert item.text == "Hi"


def test_reasoning_content_counts_as_generated_text() -> None:
    item = parse_stream_event(event({"choices": [{"delta": {"reasoning_content": "hmm"}}]}))
    assert item.has_content


def test_finish_reason_on_last_chunk() -> None:
    item = parse_stream_event(event({"choices": [{"delta": {}, "finish_reason": "length"}]}))
    assert item.finish_reason == "length" and not item.has_content


def test_usage_chunk_with_empty_choices() -> None:
    item = parse_stream_event(
        event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 16, "total_tokens": 23}})
    )
    assert item.usage == Usage(prompt_tokens=7, completion_tokens=16)
    assert not item.has_content and item.error_class is None


def test_inband_error_event() -> None:
    item = parse_stream_event(event({"error": {"message": "engine died", "type": "InternalServerError"}}))
    assert item.error_class == "inband_error" and item.error_message == "engine died"


def test_legacy_error_object() -> None:
    item = parse_stream_event(event({"object": "error", "message": "bad", "code": 400}))
    assert item.error_class == "inband_error" and item.error_message == "bad"


def test_non_json_event_is_malformed() -> None:
    assert parse_stream_event("{not json").error_class == "malformed_sse"


def test_json_that_is_not_a_chunk_is_malformed() -> None:
    assert parse_stream_event("[1, 2]").error_class == "malformed_sse"
    assert parse_stream_event('{"id": "x"}').error_class == "malformed_sse"
    assert parse_stream_event('{"choices": ["x"]}').error_class == "malformed_sse"


def test_non_streamed_chat_body() -> None:
    body = orjson.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        }
    )
    item = parse_response_body(body)
    assert (item.text, item.finish_reason, item.usage) == ("Paris.", "stop", Usage(5, 3))


def test_non_streamed_error_body() -> None:
    item = parse_response_body(b'{"error": {"message": "model not found", "code": 404}}')
    assert item.error_class == "inband_error" and item.error_message == "model not found"
