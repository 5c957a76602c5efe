"""The scripted-latency server: wire format, lengths, true timing, faults, metrics, bad input."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.openai_stream import StreamItem, parse_response_body, parse_stream_event
from loadgen.sse import SSEParser
from servers.sim.config import SimConfig
from servers.sim.pacing import Pacer
from servers.sim.vocab import generated_text
from servers.vllm.buckets import ITL_BUCKETS, REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS
from tests.fixtures.procs import ServerProcess, python_module
from tests.fixtures.sim import SimFactory, clear_truth, fetch_truth, truth_of

MS = 1_000_000
PROMPT = "one two three four five"
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say five words please"}]


@dataclass
class Streamed:
    """What a client saw of one streamed response."""

    status: int
    items: list[StreamItem] = field(default_factory=list)
    content_ns: list[int] = field(default_factory=list)
    raw_events: list[str] = field(default_factory=list)
    error: Exception | None = None

    @property
    def text(self) -> str:
        return "".join(item.text for item in self.items)

    @property
    def done(self) -> bool:
        return any(item.done for item in self.items)


def new_id() -> str:
    return "t-" + uuid.uuid4().hex


def body_for(api: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": "sim-model"}
    base.update({"prompt": PROMPT} if api == "completions" else {"messages": CHAT})
    base.update(extra)
    return base


def path_of(api: str) -> str:
    return "/v1/completions" if api == "completions" else "/v1/chat/completions"


def stream(
    base_url: str,
    api: str,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
    client: httpx.Client | None = None,
    **extra: Any,
) -> Streamed:
    """POST a streamed request; parse it with the project's SSE parser and stream interpreter."""
    sent_headers = {"X-Request-Id": request_id or new_id(), **(headers or {})}
    body = body_for(api, stream=True, **extra)
    parser = SSEParser()
    with (
        client or httpx.Client(timeout=30.0) as http,
        http.stream("POST", base_url + path_of(api), json=body, headers=sent_headers) as response,
    ):
        result = Streamed(response.status_code)
        try:
            for chunk in response.iter_raw():
                for event in parser.feed(chunk, time.perf_counter_ns()):
                    item = parse_stream_event(event.data)
                    result.items.append(item)
                    result.raw_events.append(event.data)
                    if item.has_content:
                        result.content_ns.append(event.arrival_ns)
        except httpx.HTTPError as exc:
            result.error = exc
    return result


def stream_two_apart(base_url: str, gap_s: float) -> list[dict[str, Any]]:
    """Start two streamed requests `gap_s` apart (clients made beforehand); their truth, oldest first."""
    ids = [new_id(), new_id()]
    clients = [httpx.Client(timeout=30.0) for _ in ids]
    threads = [
        threading.Thread(target=stream, args=(base_url, "completions", rid), kwargs={"client": client})
        for rid, client in zip(ids, clients, strict=True)
    ]
    for thread in threads:
        thread.start()
        time.sleep(gap_s)
    for thread in threads:
        thread.join()
    records = [wait_truth(base_url, rid) for rid in ids]
    return sorted(records, key=lambda record: record["received_ns"])


def wait_truth(base_url: str, request_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = truth_of(base_url, request_id)
        if record is not None:
            return record
        time.sleep(0.02)
    raise AssertionError(f"no truth record for {request_id}")


# --- wire format -----------------------------------------------------------------------------------


def test_streamed_completion_sends_one_event_per_token_then_usage_and_done(sim_server: ServerProcess) -> None:
    result = stream(sim_server.base_url, "completions", stream_options={"include_usage": True})
    assert result.status == 200 and result.error is None
    content = [item for item in result.items if item.has_content]
    assert len(content) == 16
    assert result.text == generated_text(16) and result.text.startswith(" alpha beta gamma")
    assert content[-1].finish_reason == "stop"
    assert all(item.finish_reason is None for item in content[:-1])
    usage = result.items[-2].usage
    assert usage is not None and usage.completion_tokens == 16 and usage.prompt_tokens == 5
    assert orjson.loads(result.raw_events[-2])["choices"] == []
    assert result.items[-1].done
    chunk = orjson.loads(result.raw_events[0])
    assert chunk["object"] == "text_completion" and chunk["model"] == "sim-model"
    assert set(chunk["choices"][0]) == {"index", "text", "logprobs", "finish_reason", "stop_reason"}


def test_streamed_chat_starts_with_role_chunk_and_ends_with_finish_chunk(sim_server: ServerProcess) -> None:
    result = stream(sim_server.base_url, "chat", max_tokens=5, stream_options={"include_usage": True})
    first = orjson.loads(result.raw_events[0])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert not result.items[0].has_content
    assert [item.has_content for item in result.items[1:6]] == [True] * 5
    finish = orjson.loads(result.raw_events[6])
    assert finish["choices"][0]["delta"] == {"content": ""}
    assert finish["choices"][0]["finish_reason"] == "length"
    assert result.items[7].usage is not None and result.items[7].usage.completion_tokens == 5
    assert result.items[8].done and len(result.items) == 9
    assert first["object"] == "chat.completion.chunk"


def test_stream_without_include_usage_has_no_usage_chunk(sim_server: ServerProcess) -> None:
    result = stream(sim_server.base_url, "completions", max_tokens=3)
    assert all(item.usage is None for item in result.items)
    assert result.done and len(result.items) == 4


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_non_streamed_response_carries_text_and_usage(sim_server: ServerProcess, api: str) -> None:
    response = httpx.post(sim_server.base_url + path_of(api), json=body_for(api, max_tokens=4), timeout=30)
    assert response.status_code == 200
    item = parse_response_body(response.content)
    assert item.error_class is None
    assert len(item.text.split()) == 4 and item.finish_reason == "length"
    assert item.usage is not None and item.usage.completion_tokens == 4
    expected_prompt = 5 if api == "completions" else 6
    assert item.usage.prompt_tokens == expected_prompt


def test_openai_client_reads_every_endpoint_and_mode(sim_server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=sim_server.base_url + "/v1", api_key="unused", max_retries=0)
    completion = client.completions.create(model="sim-model", prompt=PROMPT, max_tokens=3)
    assert completion.choices[0].text == " alpha beta gamma"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    pieces = [
        c.choices[0].text
        for c in client.completions.create(model="sim-model", prompt=PROMPT, max_tokens=3, stream=True)
        if c.choices
    ]
    assert "".join(pieces) == " alpha beta gamma"
    chat = client.chat.completions.create(model="sim-model", messages=CHAT, max_tokens=2)  # type: ignore[arg-type]
    assert chat.choices[0].message.content == " alpha beta"
    chunks = list(
        client.chat.completions.create(  # type: ignore[call-overload]
            model="sim-model",
            messages=CHAT,
            max_tokens=2,
            stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == " alpha beta"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 8
    assert [m.id for m in client.models.list()] == ["sim-model"]


# --- output length ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected", "reason"),
    [
        ({}, 16, "stop"),
        ({"max_tokens": 5}, 5, "length"),
        ({"max_tokens": 40}, 16, "stop"),
        ({"max_tokens": 40, "ignore_eos": True}, 40, "length"),
        ({"min_tokens": 20}, 20, "stop"),
        ({"max_tokens": 30, "min_tokens": 20}, 20, "stop"),
    ],
)
def test_output_length_honours_max_tokens_ignore_eos_and_min_tokens(
    sim_server: ServerProcess, extra: dict[str, Any], expected: int, reason: str
) -> None:
    response = httpx.post(sim_server.base_url + "/v1/completions", json=body_for("completions", **extra))
    payload = response.json()
    assert payload["usage"]["completion_tokens"] == expected
    assert len(payload["choices"][0]["text"].split()) == expected
    assert payload["choices"][0]["finish_reason"] == reason


def test_chat_honours_max_completion_tokens(sim_server: ServerProcess) -> None:
    response = httpx.post(
        sim_server.base_url + "/v1/chat/completions", json=body_for("chat", max_completion_tokens=3)
    )
    assert response.json()["usage"]["completion_tokens"] == 3


# --- truth and timing ------------------------------------------------------------------------------


def test_truth_timing_follows_the_settings_and_never_runs_early(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=50, itl_ms=10, output_tokens=12) as server:
        request_id = new_id()
        result = stream(server.base_url, "completions", request_id=request_id)
        record = wait_truth(server.base_url, request_id)
    stamps = record["token_ns"]
    assert record["status"] == "ok" and record["output_tokens"] == 12 and len(stamps) == 12
    assert record["first_token_ns"] == stamps[0]
    received = record["received_ns"]
    for i, stamp in enumerate(stamps):  # absolute deadlines: never early, and lateness does not add up
        due = received + 50 * MS + i * 10 * MS
        assert due <= stamp <= due + 25 * MS, (i, (stamp - due) / MS)
    mean_itl = (stamps[-1] - stamps[0]) / 11
    assert 9 * MS <= mean_itl <= 11 * MS
    # Same clock on both sides: the client sees each event after the server handed it over, soon after.
    assert len(result.content_ns) == 12
    gaps = [seen - sent for seen, sent in zip(result.content_ns, stamps, strict=True)]
    assert min(gaps) >= 0 and sum(gaps) / len(gaps) < 20 * MS


def test_truth_records_request_id_counts_and_outcome(sim_server: ServerProcess) -> None:
    request_id = new_id()
    stream(sim_server.base_url, "chat", request_id=request_id, max_tokens=4)
    record = wait_truth(sim_server.base_url, request_id)
    assert record["api"] == "chat" and record["stream"] is True
    assert record["prompt_tokens"] == 6 and record["output_tokens"] == 4
    assert record["finish_reason"] == "length" and record["http_status"] == 200
    assert record["queue_ns"] == 0 and record["fault"] is None
    assert record["received_ns"] < record["first_token_ns"] <= record["end_ns"]


def test_fast_mode_sends_every_token_batched_and_appends_the_truth_file(
    sim_server_factory: SimFactory, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.jsonl"
    with sim_server_factory(
        ttft_ms=0, itl_ms=0, output_tokens=250, events_per_write=16, truth_file=truth_file
    ) as server:
        request_id = new_id()
        result = stream(
            server.base_url, "chat", request_id=request_id, stream_options={"include_usage": True}
        )
        wait_truth(server.base_url, request_id)
        clear_truth(server.base_url)
        assert fetch_truth(server.base_url) == []
    assert len(result.content_ns) == 250 and result.done
    words = result.text.split()
    assert words[:3] == ["alpha", "beta", "gamma"] and len(words) == 250
    lines = [orjson.loads(line) for line in truth_file.read_bytes().splitlines()]
    assert [line["request_id"] for line in lines] == [request_id]
    assert len(set(lines[0]["token_ns"])) == 16  # 250 tokens in writes of 16 events: 16 writes


def test_max_concurrency_queues_requests_and_counts_the_wait(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=100, itl_ms=0, output_tokens=2, max_concurrency=1) as server:
        first, second = stream_two_apart(server.base_url, 0.03)
    assert first["queue_ns"] == 0
    assert second["queue_ns"] > 0
    assert second["queue_ns"] >= first["end_ns"] - second["received_ns"] - 5 * MS  # waited for the first
    assert second["first_token_ns"] - second["received_ns"] >= second["queue_ns"] + 100 * MS


def test_slowdown_stretches_delays_with_running_requests(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=100, itl_ms=0, output_tokens=1, slowdown=1.0) as server:
        records = stream_two_apart(server.base_url, 0.03)
    ttfts = [(r["first_token_ns"] - r["received_ns"]) / MS for r in records]
    assert 100 <= ttfts[0] < 190  # alone when it started
    assert ttfts[1] >= 200  # two running: 1 + 1.0 * (2 - 1) = twice the delay


def test_a_static_sim_records_its_batches_as_the_hf_server_does(sim_server_factory: SimFactory) -> None:
    # Two requests of 3 and 6 tokens share one batch of 2: it runs 6 steps, so 9 of its 12 row-steps
    # make a token. A continuous sim has no /batches, as vLLM has none.
    config = {"ttft_ms": 5, "itl_ms": 5, "max_concurrency": 2, "batching": "static", "batch_wait_ms": 100}
    with sim_server_factory(**config) as server:

        def complete(tokens: int) -> None:
            body = {"prompt": PROMPT, "max_tokens": tokens, "ignore_eos": True}
            assert httpx.post(server.base_url + "/v1/completions", json=body).status_code == 200

        threads = [threading.Thread(target=complete, args=(n,)) for n in (3, 6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answer = httpx.get(server.base_url + "/batches").json()
        assert httpx.get(server.base_url + "/batches", params={"after": 1}).json()["batches"] == []
        bad = httpx.get(server.base_url + "/batches", params={"after": "x"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"
    assert (answer["max_batch_size"], answer["batches_started"]) == (2, 1)
    [batch] = answer["batches"]
    shape = (batch["batch_id"], batch["rows"], batch["fill"], batch["steps"], batch["tokens"])
    assert shape == (1, 2, 1.0, 6, 9)
    assert batch["failed"] is None and batch["duration_s"] >= 6 * 5 / 1e3
    with sim_server_factory(ttft_ms=5, itl_ms=5) as continuous:
        assert httpx.get(continuous.base_url + "/batches").status_code == 404


# --- faults ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_server(sim_server_factory: SimFactory) -> Iterator[ServerProcess]:
    with sim_server_factory(ttft_ms=5, itl_ms=1, output_tokens=10, hang_s=0.5) as server:
        yield server


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        ("http_500", 500, "InternalServerError"),
        ("http_429", 429, "RateLimitError"),
        ("http_400", 400, "BadRequestError"),
    ],
)
def test_http_fault_returns_openai_error_body(
    fault_server: ServerProcess, fault: str, status: int, error_type: str
) -> None:
    request_id = new_id()
    response = httpx.post(
        fault_server.base_url + "/v1/completions",
        json=body_for("completions", stream=True),
        headers={"X-Sim-Fault": fault, "X-Request-Id": request_id},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert (
        error["type"] == error_type
        and error["code"] == status
        and set(error) == {"message", "type", "param", "code"}
    )
    record = wait_truth(fault_server.base_url, request_id)
    assert record["status"] == "fault" and record["fault"] == fault and record["http_status"] == status


def test_inband_error_fault_sends_error_event_after_a_few_tokens(fault_server: ServerProcess) -> None:
    result = stream(fault_server.base_url, "completions", headers={"X-Sim-Fault": "inband_error"})
    assert [item.has_content for item in result.items[:3]] == [True] * 3
    assert result.items[3].error_class == "inband_error"
    assert result.error is None and result.done


def test_malformed_sse_fault_sends_a_non_json_event(fault_server: ServerProcess) -> None:
    result = stream(fault_server.base_url, "chat", headers={"X-Sim-Fault": "malformed_sse"})
    assert sum(item.has_content for item in result.items) == 3
    assert result.items[4].error_class == "malformed_sse"


def test_cut_stream_fault_closes_the_connection_without_done(fault_server: ServerProcess) -> None:
    request_id = new_id()
    result = stream(
        fault_server.base_url, "completions", request_id=request_id, headers={"X-Sim-Fault": "cut_stream"}
    )
    assert len(result.content_ns) == 3 and not result.done
    assert isinstance(result.error, httpx.RemoteProtocolError)  # no chunked terminator
    record = wait_truth(fault_server.base_url, request_id)
    assert record["status"] == "fault" and record["output_tokens"] == 3


def test_no_tokens_fault_sends_headers_then_nothing_then_closes(fault_server: ServerProcess) -> None:
    start = time.perf_counter()
    result = stream(fault_server.base_url, "chat", headers={"X-Sim-Fault": "no_tokens"})
    elapsed = time.perf_counter() - start
    assert result.status == 200 and result.items == [] and result.error is not None
    assert 0.5 <= elapsed < 5


def test_slow_headers_fault_delays_the_response_headers(fault_server: ServerProcess) -> None:
    start = time.perf_counter()
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            fault_server.base_url + "/v1/completions",
            json=body_for("completions", stream=True),
            headers={"X-Sim-Fault": "slow_headers"},
        ) as response,
    ):
        headers_after = time.perf_counter() - start
        body = response.read()
    assert headers_after >= 0.5
    assert body.endswith(b"data: [DONE]\n\n")


def test_non_streamed_cut_fault_ends_before_the_declared_length(fault_server: ServerProcess) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            fault_server.base_url + "/v1/completions",
            json=body_for("completions"),
            headers={"X-Sim-Fault": "cut_stream"},
        )


def test_unknown_fault_header_is_a_bad_request(fault_server: ServerProcess) -> None:
    response = httpx.post(
        fault_server.base_url + "/v1/completions",
        json=body_for("completions"),
        headers={"X-Sim-Fault": "meteor"},
    )
    assert response.status_code == 400 and "meteor" in response.json()["error"]["message"]


def test_fault_every_nth_request(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=0, itl_ms=0, output_tokens=2, fault="http_500", fault_every=3) as server:
        statuses = [
            httpx.post(server.base_url + "/v1/completions", json=body_for("completions")).status_code
            for _ in range(6)
        ]
    assert statuses == [200, 200, 500, 200, 200, 500]


# --- metrics, endpoints, bad input, disconnects ---------------------------------------------------------


def test_metrics_use_vllm_names_labels_and_buckets(sim_server: ServerProcess) -> None:
    stream(sim_server.base_url, "completions", max_tokens=3)
    text = httpx.get(sim_server.base_url + "/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name in (
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:prompt_tokens",
        "vllm:generation_tokens",
        "vllm:request_success",
    ):
        assert name in families, name
        assert all(s.labels["model_name"] == "sim-model" for s in families[name].samples)
    for name, buckets in (
        ("vllm:time_to_first_token_seconds", TTFT_BUCKETS),
        ("vllm:inter_token_latency_seconds", ITL_BUCKETS),
        ("vllm:e2e_request_latency_seconds", REQUEST_LATENCY_BUCKETS),
    ):
        bounds = [float(s.labels["le"]) for s in families[name].samples if s.name.endswith("_bucket")]
        assert bounds == [*buckets, float("inf")]
    assert TTFT_BUCKETS[:4] == (0.001, 0.005, 0.01, 0.02)
    success = {s.labels["finished_reason"]: s.value for s in families["vllm:request_success"].samples}
    assert success["length"] >= 1
    generated = families["vllm:generation_tokens"].samples[0].value
    assert generated >= 3


def test_models_health_and_config_endpoints(sim_server: ServerProcess) -> None:
    assert httpx.get(sim_server.base_url + "/health").status_code == 200
    models = httpx.get(sim_server.base_url + "/v1/models").json()
    assert models["data"][0]["id"] == "sim-model"
    config = httpx.get(sim_server.base_url + "/sim/config").json()
    assert config["ttft_ms"] == 20 and config["itl_ms"] == 2 and config["output_tokens"] == 16


@pytest.mark.parametrize(
    ("path", "content", "param"),
    [
        ("/v1/completions", b"{not json", None),
        ("/v1/completions", b'["a list"]', None),
        ("/v1/completions", b'{"model": "sim-model"}', "prompt"),
        ("/v1/chat/completions", b'{"model": "sim-model"}', "messages"),
        ("/v1/chat/completions", b'{"messages": "hello"}', "messages"),
        ("/v1/completions", b'{"prompt": "hi", "max_tokens": "ten"}', "max_tokens"),
        ("/v1/completions", b'{"prompt": "hi", "max_tokens": 0}', "max_tokens"),
        ("/v1/completions", b'{"prompt": "hi", "stream": "yes"}', "stream"),
        ("/v1/completions", b'{"prompt": "hi", "max_tokens": 2, "min_tokens": 5}', "min_tokens"),
        ("/v1/completions", b'{"prompt": 42}', "prompt"),
    ],
)
def test_bad_input_gets_a_400_openai_error(
    sim_server: ServerProcess, path: str, content: bytes, param: str | None
) -> None:
    response = httpx.post(
        sim_server.base_url + path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400 and error["param"] == param
    assert httpx.get(sim_server.base_url + "/health").status_code == 200


def test_unknown_model_is_404_and_unknown_route_too(sim_server: ServerProcess) -> None:
    response = httpx.post(sim_server.base_url + "/v1/completions", json={"model": "gpt-9", "prompt": "hi"})
    assert response.status_code == 404 and "gpt-9" in response.json()["error"]["message"]
    assert httpx.get(sim_server.base_url + "/v2/nothing").status_code == 404
    assert httpx.get(sim_server.base_url + "/v1/completions").status_code == 405


def test_garbage_http_gets_400_and_server_keeps_serving(sim_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", sim_server.port), timeout=5) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert httpx.get(sim_server.base_url + "/health").status_code == 200


def test_client_disconnect_mid_stream_is_recorded(sim_server: ServerProcess) -> None:
    request_id = new_id()
    parser = SSEParser()
    seen = 0
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            sim_server.base_url + "/v1/completions",
            json=body_for("completions", stream=True, max_tokens=500, ignore_eos=True),
            headers={"X-Request-Id": request_id},
        ) as response,
    ):
        for chunk in response.iter_raw():
            seen += len(parser.feed(chunk, 0))
            if seen >= 2:
                break
    closed_ns = time.perf_counter_ns()
    record = wait_truth(sim_server.base_url, request_id)
    assert record["status"] == "disconnected"
    assert 2 <= record["output_tokens"] < 500
    assert record["end_ns"] - closed_ns < 100 * MS  # noticed when the connection dropped


def test_keep_alive_connection_serves_many_requests(sim_server: ServerProcess) -> None:
    with httpx.Client(base_url=sim_server.base_url) as client:
        for _ in range(5):
            response = client.post("/v1/completions", json=body_for("completions", max_tokens=1))
            assert response.status_code == 200
        assert len(client.get("/sim/truth").json()) >= 5


def test_client_disconnect_while_waiting_for_a_non_streamed_body_is_recorded(
    sim_server: ServerProcess,
) -> None:
    request_id = new_id()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            sim_server.base_url + "/v1/completions",
            json=body_for("completions", max_tokens=400, ignore_eos=True),
            headers={"X-Request-Id": request_id},
            timeout=0.2,
        )
    record = wait_truth(sim_server.base_url, request_id)
    assert record["status"] == "disconnected" and record["stream"] is False
    assert record["end_ns"] - record["received_ns"] < 600 * MS


# --- pacing and the command line ---------------------------------------------------------------------


def test_jitter_stays_in_its_distribution_and_replays_with_the_seed() -> None:
    uniform = SimConfig(ttft_ms=100, itl_ms=10, jitter="uniform", jitter_ms=2, seed=7)
    draws = [Pacer(uniform).itl_ns(1), Pacer(uniform).itl_ns(1)]
    assert draws[0] == draws[1]  # same seed, same sequence
    pacer = Pacer(uniform)
    samples = [pacer.itl_ns(1) for _ in range(2000)]
    assert 8 * MS <= min(samples) < 8.2 * MS and 11.8 * MS < max(samples) <= 12 * MS
    exponential = Pacer(SimConfig(itl_ms=10, jitter="exponential", jitter_ms=3, seed=1))
    late = [exponential.itl_ns(1) - 10 * MS for _ in range(4000)]
    assert min(late) >= 0 and 2.7 * MS < sum(late) / len(late) < 3.3 * MS
    normal = Pacer(SimConfig(itl_ms=1, jitter="normal", jitter_ms=5, seed=1))
    assert min(normal.itl_ns(1) for _ in range(500)) == 0  # clamped, never negative


def test_slowdown_scales_delays_by_running_requests() -> None:
    pacer = Pacer(SimConfig(ttft_ms=100, itl_ms=10, slowdown=0.5))
    assert pacer.ttft_ns(1) == 100 * MS and pacer.ttft_ns(3) == 200 * MS and pacer.itl_ns(5) == 30 * MS


@pytest.mark.parametrize(
    "args",
    [
        ["--output-tokens", "0"],
        ["--fault-every", "0"],
        ["--jitter", "bogus"],
        ["--itl-ms", "-1"],
        ["--max-concurrency", "0"],
    ],
)
def test_bad_command_line_gets_a_one_line_error(args: list[str]) -> None:
    command = python_module("servers.sim", *args)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert completed.returncode == 2
    assert "Error:" in completed.stderr and "Traceback" not in completed.stderr


def test_sigterm_stops_the_server_with_streams_open(sim_server_factory: SimFactory) -> None:
    with sim_server_factory(ttft_ms=10, itl_ms=50, output_tokens=1000) as server:
        client = httpx.Client(timeout=30)
        request = client.build_request(
            "POST", server.base_url + "/v1/completions", json=body_for("completions", stream=True)
        )
        response = client.send(request, stream=True)
        next(response.iter_raw())
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=10)
        assert time.monotonic() - start < 5
        response.close()
        client.close()


def test_pipelined_requests_are_served_in_order_and_their_wait_is_recorded(sim_server: ServerProcess) -> None:
    ids = [new_id(), new_id()]
    body = orjson.dumps(body_for("completions", max_tokens=2))
    raw = b"".join(
        b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"x-request-id: %s\r\ncontent-length: %d\r\n\r\n%s" % (rid.encode(), len(body), body)
        for rid in ids
    )
    with socket.create_connection(("127.0.0.1", sim_server.port), timeout=10) as sock:
        sock.sendall(raw)  # both requests in one write: the second waits for the first
        received = b""
        while received.count(b'"completion_tokens":2') < 2:
            received += sock.recv(65536)
    assert received.index(ids[0].encode()) < received.index(ids[1].encode())
    first, second = (wait_truth(sim_server.base_url, rid) for rid in ids)
    assert first["pipeline_ns"] < 5 * MS
    assert second["pipeline_ns"] >= first["end_ns"] - second["received_ns"] - 1 * MS
    assert second["first_token_ns"] >= second["received_ns"] + second["pipeline_ns"] + 20 * MS


def test_truth_can_be_read_for_one_request_and_without_token_stamps(sim_server: ServerProcess) -> None:
    request_id = new_id()
    stream(sim_server.base_url, "completions", request_id=request_id, max_tokens=2)
    wait_truth(sim_server.base_url, request_id)
    url = sim_server.base_url + "/sim/truth"
    only = httpx.get(url, params={"request_id": request_id, "tokens": "0"}).json()
    assert [record["request_id"] for record in only] == [request_id]
    assert "token_ns" not in only[0] and only[0]["output_tokens"] == 2
    assert httpx.get(url, params={"request_id": "never-sent"}).json() == []


@pytest.mark.parametrize("itl_ms", [1, 0])
def test_mid_stream_fault_on_a_short_output_still_breaks_the_stream(
    sim_server_factory: SimFactory, itl_ms: int
) -> None:
    with sim_server_factory(ttft_ms=5, itl_ms=itl_ms, output_tokens=2, fault="inband_error") as server:
        result = stream(server.base_url, "completions")
    assert sum(item.has_content for item in result.items) == 2
    assert all(item.finish_reason is None for item in result.items)
    assert [item.error_class for item in result.items][-2:] == ["inband_error", None] and result.done
