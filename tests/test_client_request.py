"""Request bodies and headers as OpenAI-compatible servers expect them."""

from __future__ import annotations

import pytest

from loadgen.client.clients import Http1Client
from loadgen.client.request import request_body, request_headers
from loadgen.errors import ConfigError
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt

TARGET = Target(name="t", base_url="http://127.0.0.1:8000", model="m", api_key="sk-test")


def test_streamed_completion_asks_for_usage_and_output_controls() -> None:
    options = RequestOptions(
        max_tokens=32, ignore_eos=True, min_tokens=32, temperature=0.5, seed=7, extra_body={"top_p": 0.9}
    )
    body = request_body(TARGET, options, Prompt(text="hi"))
    assert body == {
        "model": "m",
        "prompt": "hi",
        "max_tokens": 32,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "seed": 7,
        "ignore_eos": True,
        "min_tokens": 32,
        "top_p": 0.9,
    }


def test_prompt_output_length_overrides_the_default() -> None:
    body = request_body(TARGET, RequestOptions(max_tokens=32), Prompt(text="hi", output_tokens=5))
    assert body["max_tokens"] == 5


def test_chat_wraps_text_as_a_user_message_and_non_stream_has_no_stream_options() -> None:
    body = request_body(TARGET, RequestOptions(api="chat", stream=False), Prompt(text="hi"))
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["stream"] is False and "stream_options" not in body


def test_chat_messages_cannot_go_to_the_completions_api() -> None:
    with pytest.raises(ConfigError):
        request_body(TARGET, RequestOptions(), Prompt(messages=({"role": "user", "content": "x"},)))


def test_headers_carry_request_id_api_key_and_extras() -> None:
    headers = request_headers(TARGET, RequestOptions(extra_headers={"X-Sim-Fault": "http_500"}), "id-1")
    assert headers["X-Request-Id"] == "id-1"
    assert headers["Authorization"] == "Bearer sk-test"
    assert headers["X-Sim-Fault"] == "http_500"


@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("http://h:1", "/v1/completions"),
        ("http://h:1/", "/v1/completions"),
        ("http://h:1/v1", "/v1/completions"),
        ("http://h:1/proxy/v1/", "/proxy/v1/completions"),
    ],
)
def test_endpoint_path_accepts_base_urls_with_or_without_v1(base: str, path: str) -> None:
    assert Target(name="t", base_url=base, model="m").endpoint_path("completions") == path


def test_whole_request_goes_out_as_one_buffer_with_exact_content_length() -> None:
    payload = Http1Client(TARGET, RequestOptions()).payload(Prompt(text="hi"), "id-2")
    head, body = payload.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert f"Content-Length: {len(body)}".encode() in head


def test_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Target(name="t", base_url="localhost:8000", model="m")


def test_http1_request_lays_out_line_host_length_headers_then_body() -> None:
    from loadgen.client.request import http1_request

    wire = http1_request("/v1/chat/completions", "h:80", {"A": "1", "B": "2"}, b'{"x":1}')
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: h:80\r\nContent-Length: 7\r\nA: 1\r\nB: 2\r\n\r\n"
    assert wire == head + b'{"x":1}'
