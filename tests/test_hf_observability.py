"""What the HF server says about itself: each batch's record (`/batches`), the decode-step and prefill
histograms, the attention kernels it chose and the start-up warm-up."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from click.testing import CliRunner

from servers.hf.__main__ import cli
from servers.hf.app import create_app
from servers.hf.attention import apply_sdpa_backend, describe
from servers.hf.handlers import _drain
from servers.hf.loading import LoadedModel
from servers.hf.request import Event, Failure, Finish, StepEvent
from servers.hf.runner import GenerateRunner
from servers.hf.settings import BatchingSettings, ServerSettings
from servers.hf.warmup import WarmupReport, default_batch_sizes, warm_up

MODEL = "SmolLM2-135M-Instruct"
BODY = {"model": MODEL, "prompt": "Hello there", "ignore_eos": True, "temperature": 0}


@pytest.fixture
async def client(hf_loaded: LoadedModel, smollm2_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServerSettings(
        model_dir=smollm2_dir,
        served_model_name=MODEL,
        batching=BatchingSettings(max_batch_size=2, max_wait_ms=2000, max_queue=4),
    )
    report = WarmupReport((1, 2), (0.5, 0.25), 64, 16)
    app = create_app(settings, hf_loaded, warmup=report)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hf", timeout=120) as c,
    ):
        yield c


async def _batches(client: httpx.AsyncClient, count: int, after: int = 0) -> list[dict[str, Any]]:
    """The batch records once `count` of them are there (a record lands when its generate call returns,
    which can be just after the last response)."""
    for _ in range(200):
        found = (await client.get("/batches", params={"after": after})).json()["batches"]
        if len(found) >= count:
            return found  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} batch records after 10 s")


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}{{[^}}]*}} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


@pytest.mark.slow
async def test_each_batch_is_recorded_with_its_shape_and_step_times(client: httpx.AsyncClient) -> None:
    short, long = await asyncio.gather(
        client.post("/v1/completions", json={**BODY, "max_tokens": 3}),
        client.post("/v1/completions", json={**BODY, "max_tokens": 6}),
    )
    assert short.status_code == long.status_code == 200
    assert (await client.get("/batches")).json()["max_batch_size"] == 2
    [batch] = await _batches(client, 1)
    assert batch["rows"] == 2 and batch["fill"] == 1.0
    assert batch["max_new_tokens"] == 6 and batch["steps"] == 6  # the batch lasts as long as its longest row
    assert batch["tokens"] == 3 + 6  # of 2 x 6 row-steps: the short row idles for its last three
    assert batch["failed"] is None and batch["padding_fraction"] == 0.0
    assert 0 < batch["decode_step_s_median"] <= batch["decode_step_s_max"]
    assert batch["prefill_s"] > 0 and batch["duration_s"] >= batch["prefill_s"]
    metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "hf_server:decode_step_seconds_count") == 5  # steps after the first
    assert _metric(metrics, "hf_server:prefill_seconds_count") == 1


@pytest.mark.slow
async def test_batches_after_an_id_lists_only_newer_batches(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await client.post("/v1/completions", json={**BODY, "max_tokens": 2})).status_code == 200
    everything = await _batches(client, 2)
    assert [b["batch_id"] for b in everything] == [1, 2]
    newer = await _batches(client, 1, after=1)
    assert [b["batch_id"] for b in newer] == [2]


@pytest.mark.slow
async def test_config_says_which_attention_and_warm_up_the_server_runs(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    config = (await client.get("/config")).json()
    assert config["cuda_alloc_conf"] == "expandable_segments:True"  # the allocator the server runs under
    assert config["attn_implementation"] == "sdpa"
    assert config["sdpa_backend"] == "auto"
    assert config["sdpa_kernels"] == []  # on CPU the CUDA kernel switches do not apply
    assert "CPU" in config["attention_reason"]
    assert config["warmup"]["batch_sizes"] == [1, 2] and config["warmup"]["total_s"] == 0.75


@pytest.fixture
def restore_sdpa_flags() -> Iterator[None]:
    saved = (
        torch.backends.cuda.cudnn_sdp_enabled(),
        torch.backends.cuda.flash_sdp_enabled(),
        torch.backends.cuda.mem_efficient_sdp_enabled(),
        torch.backends.cuda.math_sdp_enabled(),
    )
    yield
    torch.backends.cuda.enable_cudnn_sdp(saved[0])
    torch.backends.cuda.enable_flash_sdp(saved[1])
    torch.backends.cuda.enable_mem_efficient_sdp(saved[2])
    torch.backends.cuda.enable_math_sdp(saved[3])


@pytest.mark.usefixtures("restore_sdpa_flags")
def test_auto_turns_cudnn_attention_off_and_keeps_the_others_on_cuda() -> None:
    kernels = apply_sdpa_backend("auto", torch.device("cuda"))
    assert kernels == ("flash", "efficient", "math")
    assert not torch.backends.cuda.cudnn_sdp_enabled()
    assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
    assert "cuDNN attention off" in describe("sdpa", "auto", kernels).reason


@pytest.mark.usefixtures("restore_sdpa_flags")
def test_each_named_backend_keeps_only_its_kernel_and_the_math_fallback() -> None:
    apply_sdpa_backend("efficient", torch.device("cuda"))
    assert torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert not torch.backends.cuda.flash_sdp_enabled() and not torch.backends.cuda.cudnn_sdp_enabled()
    assert apply_sdpa_backend("cudnn", torch.device("cuda")) == ("cudnn", "flash", "efficient", "math")
    assert torch.backends.cuda.cudnn_sdp_enabled()


@pytest.mark.usefixtures("restore_sdpa_flags")
def test_cpu_leaves_the_switches_alone() -> None:
    torch.backends.cuda.enable_cudnn_sdp(True)
    assert apply_sdpa_backend("math", torch.device("cpu")) == ()
    assert torch.backends.cuda.cudnn_sdp_enabled()
    assert "do not apply" in describe("eager", "auto", ()).reason


def test_default_warmup_covers_powers_of_two_and_the_largest_batch_on_cuda_only() -> None:
    cuda = torch.device("cuda")
    assert default_batch_sizes(8, cuda) == (1, 2, 4, 8)
    assert default_batch_sizes(48, cuda) == (1, 2, 4, 8, 16, 32, 48)
    assert default_batch_sizes(1, cuda) == (1,)
    assert default_batch_sizes(256, torch.device("cpu")) == ()


@pytest.mark.slow
def test_warm_up_runs_one_generate_call_per_batch_size(hf_loaded: LoadedModel) -> None:
    runner = GenerateRunner.for_model(hf_loaded)
    report = warm_up(runner, (1, 3), hf_loaded.vocab_size, hf_loaded.max_model_len)
    assert report.batch_sizes == (1, 3) and len(report.seconds) == 2
    assert all(s > 0 for s in report.seconds)
    assert report.public()["new_tokens"] == 16


@pytest.mark.parametrize("value", ["0", "1,x", "1,64"])
def test_bad_warmup_sizes_are_a_one_line_usage_error(value: str, smollm2_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--model-dir", str(smollm2_dir), "--max-batch-size", "8", "--warmup", value]
    )
    assert result.exit_code == 2
    assert "--warmup" in result.output or "warm-up" in result.output
    assert "Traceback" not in result.output


async def test_events_queued_behind_one_go_out_as_one_delta_per_choice() -> None:
    queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
    queue.put_nowait((1, StepEvent("x", 1, 0)))
    for text in ("b", "c"):
        queue.put_nowait((0, StepEvent(text, 1, 0)))
    queue.put_nowait((0, StepEvent("d", 1, 0, Finish("length", None, 4))))
    queue.put_nowait((1, StepEvent("y", 1, 0)))  # another choice's text after choice 0 finished
    texts, finishes, failure = _drain((0, StepEvent("a", 1, 0)), queue)
    assert failure is None and {i: "".join(parts) for i, parts in texts.items()} == {0: "abcd", 1: "xy"}
    assert list(texts) == [0, 1]  # choices in the order their first text came
    assert list(finishes) == [0] and finishes[0].completion_tokens == 4
    assert queue.empty()


async def test_a_failure_behind_text_keeps_the_text_and_the_failure() -> None:
    queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
    queue.put_nowait((0, Failure(503, "out of memory")))
    texts, finishes, failure = _drain((0, StepEvent("a", 1, 0)), queue)
    assert texts == {0: ["a"]} and finishes == {} and failure == Failure(503, "out of memory")


@pytest.mark.slow
@pytest.mark.parametrize("random_weights", [True, False])
def test_a_device_map_loads_the_model_and_generates(smollm2_dir: Path, random_weights: bool) -> None:
    from servers.hf.loading import load_model

    loaded = load_model(
        ServerSettings(
            model_dir=smollm2_dir,
            served_model_name=MODEL,
            device="cpu",
            device_map="auto",
            random_weights=random_weights,
        )
    )
    assert loaded.device == torch.device("cpu")  # no GPU here: accelerate maps every layer to the CPU
    report = warm_up(GenerateRunner.for_model(loaded), (2,), loaded.vocab_size, loaded.max_model_len)
    assert report.batch_sizes == (2,)
