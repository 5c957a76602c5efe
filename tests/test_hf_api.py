"""The HF server's OpenAI API, driven by the `openai` client, against the real SmolLM2 weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fixtures.procs import ServerProcess

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(hf_server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=hf_server.base_url + "/v1", api_key="unused", timeout=120, max_retries=0
    ) as c:
        yield c


@pytest.fixture(scope="module")
def direct(hf_loaded: Any) -> tuple[Any, Any]:
    """The same model loaded in this process, for plain `generate` calls."""
    return hf_loaded.model, hf_loaded.tokenizer


def _direct_greedy(direct: tuple[Any, Any], ids: list[int], max_new_tokens: int) -> str:
    """Plain greedy `generate` for one prompt, stopping at the model's EOS as the server does."""
    import torch

    model, tokenizer = direct
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True))


def test_completion_returns_text_usage_and_length_finish(client: openai.OpenAI) -> None:
    result = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0
    )
    choice = result.choices[0]
    assert choice.text.strip()
    assert choice.finish_reason == "length"
    assert result.usage is not None
    assert result.usage.completion_tokens == 5
    assert result.usage.prompt_tokens == 5
    assert result.model == MODEL


def test_completion_stream_sends_one_chunk_per_token_then_usage(client: openai.OpenAI) -> None:
    stream = client.completions.create(
        model=MODEL,
        prompt="Count: one, two,",
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text_chunks = [c for c in chunks if c.choices and c.choices[0].text]
    assert 1 <= len(text_chunks) <= 6
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


def test_chat_answers_with_the_model_greedy_output(client: openai.OpenAI, direct: tuple[Any, Any]) -> None:
    result = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=12, temperature=0)
    _, tokenizer = direct
    ids = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(ids, add_special_tokens=False)["input_ids"]
    assert result.choices[0].message.content == _direct_greedy(direct, prompt_ids, 12)
    assert result.choices[0].message.content == "The capital of France is Paris."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.prompt_tokens == len(prompt_ids)


def test_completion_greedy_output_equals_direct_generate(
    client: openai.OpenAI, direct: tuple[Any, Any]
) -> None:
    prompt = "Once upon a time, in a small village,"
    result = client.completions.create(model=MODEL, prompt=prompt, max_tokens=16, temperature=0)
    _, tokenizer = direct
    assert result.choices[0].text == _direct_greedy(direct, tokenizer(prompt)["input_ids"], 16)


def test_chat_stream_starts_with_role_and_ends_with_finish_usage_done(hf_server: ServerProcess) -> None:
    body = {
        "model": MODEL,
        "messages": QUESTION,
        "max_tokens": 12,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream(
        "POST", hf_server.base_url + "/v1/chat/completions", json=body, timeout=120
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    import json

    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    contents = [c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1]]
    assert "".join(contents) == "The capital of France is Paris."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 8
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)


def test_chat_stream_with_openai_client(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=12,
        temperature=0,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "The capital of France is Paris."


def test_stop_string_ends_the_answer_before_it(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=12,
        temperature=0,
        stop=["Paris"],
    )
    assert result.choices[0].message.content == "The capital of France is "
    assert result.choices[0].finish_reason == "stop"


def test_ignore_eos_and_min_tokens_fix_the_output_length(client: openai.OpenAI) -> None:
    fixed = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=14,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert fixed.usage is not None and fixed.usage.completion_tokens == 14
    assert fixed.choices[0].finish_reason == "length"
    at_least = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=14,
        temperature=0,
        extra_body={"min_tokens": 10},
    )
    assert at_least.usage is not None and at_least.usage.completion_tokens >= 10


def test_a_seed_makes_sampling_reproducible(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str:
        result = client.completions.create(
            model=MODEL,
            prompt="My favourite animal is",
            max_tokens=8,
            temperature=1.0,
            top_p=0.95,
            seed=seed,
            extra_body={"top_k": 40},
        )
        return result.choices[0].text

    first = sample(1234)
    assert sample(1234) == first
    assert len({first, sample(1), sample(2), sample(3)}) > 1


def test_token_id_prompts_are_accepted(client: openai.OpenAI) -> None:
    result = client.completions.create(
        model=MODEL, prompt=[504, 3575, 282, 4649, 314], max_tokens=3, temperature=0
    )
    assert result.usage is not None and result.usage.prompt_tokens == 5


def test_models_lists_the_served_model_and_batching_knobs(
    client: openai.OpenAI, hf_server: ServerProcess
) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    card = httpx.get(hf_server.base_url + "/v1/models").json()["data"][0]
    assert card["max_model_len"] == 2048  # the launch configuration's default (servers/vllm/launch.py)
    assert card["metadata"]["max_batch_size"] == 8
    assert card["metadata"]["max_wait_ms"] == 20


def test_config_and_health_describe_the_server(hf_server: ServerProcess) -> None:
    assert httpx.get(hf_server.base_url + "/health").status_code == 200
    config = httpx.get(hf_server.base_url + "/config").json()
    assert config["server"] == "hf"
    assert config["device"] == "cpu" and config["dtype"] == "bfloat16"
    assert {"max_batch_size", "max_wait_ms", "max_queue", "batches_started", "sampling"} <= config.keys()
    assert config["api_key"] is None


def test_metrics_keep_vllm_names_when_prometheus_asks_for_openmetrics(hf_server: ServerProcess) -> None:
    # Prometheus negotiates OpenMetrics first; the `vllm:` names must survive it, or dashboards go blank.
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = httpx.get(hf_server.base_url + "/metrics", headers={"Accept": accept}, timeout=10)
    assert response.status_code == 200
    assert "vllm:e2e_request_latency_seconds_bucket" in response.text
    assert "vllm_e2e_request_latency_seconds" not in response.text
