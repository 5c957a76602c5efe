"""Identical random weights for both servers (`hf-server init-weights`), the presets they fill, the
resized tokenizer, and one GPU memory budget for both servers (`--gpu-memory-gib`), on CPU."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from servers.hf.presets import PRESETS, Shape, llama_config, make_config
from servers.vllm.launch import GIB, HfLaunch, ServeSettings, VllmLaunch, gib_to_fraction
from tests.fixtures.procs import REPO_ROOT, python_module


@pytest.fixture(scope="module")
def tiny_dir(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny-test preset with seeded random weights (seed 0, bf16)."""
    from servers.hf.init_weights import init_weights

    path = tmp_path_factory.mktemp("init") / "tiny-test"
    make_config("tiny-test", path, smollm2_dir)
    init_weights(path, seed=0, max_shard_bytes=8 << 20)
    return path


def test_new_presets_have_their_published_shapes() -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    expected = {  # parameters of the published checkpoints (billions)
        "tinyllama-1.1b": 1.10,
        "qwen2.5-7b": 7.62,
        "llama-3.2-3b": 3.21,
        "llama-2-7b": 6.74,
    }
    for name, billions in expected.items():
        config = AutoConfig.for_model(**llama_config(PRESETS[name], 1, 2))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
        assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.01), name
    qwen = llama_config(PRESETS["qwen2.5-7b"], 1, 2)
    assert qwen["model_type"] == "qwen2" and qwen["architectures"] == ["Qwen2ForCausalLM"]
    assert (qwen["num_key_value_heads"], qwen["vocab_size"], qwen["rope_theta"]) == (4, 152064, 1e6)
    assert qwen["use_sliding_window"] is False and qwen["rms_norm_eps"] == 1e-6
    tiny = llama_config(PRESETS["tinyllama-1.1b"], 1, 2)
    assert (tiny["num_hidden_layers"], tiny["num_key_value_heads"]) == (22, 4)
    assert tiny["max_position_embeddings"] == 2048 and tiny["vocab_size"] == 32000
    assert all(shape.source for shape in PRESETS.values())


@pytest.mark.parametrize("size", [32000, 152064])
def test_the_tokenizer_is_resized_to_the_vocabulary(smollm2_dir: Path, size: int) -> None:
    from tokenizers import Tokenizer

    from servers.hf.vocab import filler_token, resize_tokenizer

    raw = json.loads((smollm2_dir / "tokenizer.json").read_text())
    tokenizer = Tokenizer.from_str(json.dumps(resize_tokenizer(raw, size)))
    assert tokenizer.get_vocab_size() == size
    text = "Hello world, naïve café: the capital of France is Paris! 1234 ∑ 日本語"
    ids = tokenizer.encode(text).ids
    assert max(ids) < min(size, 49152) and tokenizer.decode(ids) == text
    last = filler_token(size - 1) if size > 49152 else tokenizer.id_to_token(size - 1)
    assert tokenizer.decode([size - 1]) == last


def test_a_qwen2_directory_with_weights_loads_with_biases_at_zero(smollm2_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from servers.hf import presets
    from servers.hf.init_weights import init_weights

    shape = Shape(128, 256, 2, 2, 1, False, None, vocab_size=32000, architecture="qwen2", source="test")
    presets.PRESETS["qwen2-test"] = shape
    try:
        make_config("qwen2-test", tmp_path / "q", smollm2_dir)
    finally:
        del presets.PRESETS["qwen2-test"]
    init_weights(tmp_path / "q", seed=3, dtype="float32")
    loaded: Any = AutoModelForCausalLM.from_pretrained(tmp_path / "q", output_loading_info=True)
    model, info = loaded
    assert not info["missing_keys"] and not info["unexpected_keys"]
    attention = model.model.layers[0].self_attn
    assert attention.q_proj.bias is not None and float(attention.q_proj.bias.detach().abs().sum()) == 0
    assert model.lm_head.weight.shape == (32000, 128)


def test_init_weights_writes_a_checkpoint_both_servers_load(tiny_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    index = json.loads((tiny_dir / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1  # sharded at 8 MiB
    manifest = json.loads((tiny_dir / "servebench-model.json").read_text())
    assert manifest["random_weights"]["seed"] == 0 and "model.safetensors.index.json" in manifest["files"]
    loaded: Any = AutoModelForCausalLM.from_pretrained(
        tiny_dir, output_loading_info=True, dtype=torch.float32
    )
    model, info = loaded
    assert not info["missing_keys"] and not info["unexpected_keys"]
    layer = model.model.layers[1]
    assert torch.equal(layer.input_layernorm.weight, torch.ones(256))
    assert float(layer.mlp.gate_proj.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    down = float(layer.mlp.down_proj.weight.detach().std())
    assert down == pytest.approx(0.02 / 2, rel=0.05)  # std / sqrt(2 x layers), 2 layers


def test_init_weights_is_seeded_and_skips_what_is_there(tiny_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from servers.hf.init_weights import init_weights

    again = init_weights(tiny_dir, seed=0, max_shard_bytes=8 << 20)
    assert not again.written
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "servebench-model.json"):
        (copy / name).write_text((tiny_dir / name).read_text())
    (copy / "servebench-model.json").write_text("{}")
    init_weights(copy, seed=0, max_shard_bytes=8 << 20)
    shard = sorted(p.name for p in tiny_dir.glob("model-*.safetensors"))[0]
    first = load_file(str(tiny_dir / shard))
    second = load_file(str(copy / shard))
    assert first.keys() == second.keys() and all(first[k].equal(second[k]) for k in first)
    other = init_weights(copy, seed=1, max_shard_bytes=8 << 20)
    assert other.written
    third = load_file(str(copy / shard))
    assert not all(first[k].equal(third[k]) for k in first if "norm" not in k)


def test_init_weights_cli_errors_are_one_line(tmp_path: Path) -> None:
    argv = python_module("servers.hf", "init-weights", str(tmp_path))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "has no config.json" in done.stderr and "Traceback" not in done.stderr


def test_a_gib_budget_becomes_a_share_of_the_gpu() -> None:
    h200 = 143771 * 2**20
    assert gib_to_fraction(24, h200) == pytest.approx(24 * 1024 / 143771, abs=1e-4)
    assert gib_to_fraction(24, h200) * h200 <= 24 * GIB  # rounded down: never above the budget
    for bad in (0, -1, 200):
        with pytest.raises(ValueError):
            gib_to_fraction(bad, h200)


def test_both_launches_carry_the_same_budget(tmp_path: Path) -> None:
    settings = ServeSettings(tmp_path, device="cuda")
    vllm = VllmLaunch(settings, gpu_memory_gib=24, gpu_total_bytes=96 * GIB)
    argv = vllm.argv(vllm="vllm")
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.25"
    hf = HfLaunch(settings, gpu_memory_gib=24).argv()
    assert hf[hf.index("--gpu-memory-gib") + 1] == "24"
    with pytest.raises(ValueError, match="not both"):
        VllmLaunch(settings, gpu_memory_gib=24, gpu_memory_utilization=0.3)
    on_cpu = ServeSettings(tmp_path)
    assert "--gpu-memory-gib" not in HfLaunch(on_cpu, gpu_memory_gib=24).argv()


def test_the_hf_server_alone_gets_an_allocator_setting(tmp_path: Path) -> None:
    """`--hf-cuda-alloc-conf` reaches the HF server's environment, not vLLM's, and only on a GPU."""
    settings = ServeSettings(tmp_path, device="cuda")
    hf = HfLaunch(settings, gpu_memory_gib=24, cuda_alloc_conf="expandable_segments:True")
    assert hf.env()["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert "PYTORCH_CUDA_ALLOC_CONF" not in HfLaunch(settings).env()
    vllm = VllmLaunch(settings, gpu_memory_gib=24, gpu_total_bytes=96 * GIB)
    assert "PYTORCH_CUDA_ALLOC_CONF" not in vllm.env()
    on_cpu = HfLaunch(ServeSettings(tmp_path), cuda_alloc_conf="expandable_segments:True")
    assert "PYTORCH_CUDA_ALLOC_CONF" not in on_cpu.env()


def test_compare_refuses_an_allocator_setting_on_cpu(tiny_dir: Path, tmp_path: Path) -> None:
    argv = python_module(
        "loadgen", "compare", "--launch", "--model-dir", str(tiny_dir),
        "--hf-cuda-alloc-conf", "expandable_segments:True", "--output-dir", str(tmp_path / "run"),
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--hf-cuda-alloc-conf" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # refused before any server started


def test_the_memory_cap_is_refused_on_cpu(tiny_dir: Path, tmp_path: Path) -> None:
    from servers.hf.loading import ModelLoadError, load_model
    from servers.hf.settings import ServerSettings

    with pytest.raises(ModelLoadError, match="caps CUDA memory"):
        load_model(ServerSettings(tiny_dir, "t", device="cpu", gpu_memory_gib=8))
    for argv in (
        python_module(
            "servers.hf", "serve", "--model-dir", str(tiny_dir), "--device", "cpu", "--gpu-memory-gib", "8"
        ),
        python_module("servers.vllm", "--model-dir", str(tiny_dir), "--gpu-memory-gib", "8", "--print"),
        python_module(
            "loadgen",
            "compare",
            "--launch",
            "--model-dir",
            str(tiny_dir),
            "--gpu-memory-gib",
            "8",
            "--output-dir",
            str(tmp_path / "run"),
        ),  # fmt: skip
    ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert "--gpu-memory-gib" in done.stderr and "Traceback" not in done.stderr


def test_compare_recognises_saved_random_weights(tiny_dir: Path, smollm2_dir: Path) -> None:
    from loadgen.compare.execute import saved_random_weights

    assert saved_random_weights([None, tiny_dir])
    assert not saved_random_weights([smollm2_dir, "/nowhere"])


@pytest.mark.slow
def test_vllm_and_the_hf_server_agree_on_identical_random_weights(tiny_dir: Path, tmp_path: Path) -> None:
    """One short `loadgen compare --launch` (vLLM on CPU and the HF server) on the saved weights: the
    greedy token-agreement gate runs (not skipped as for --random-weights) and passes, and both load
    times are recorded."""
    run = tmp_path / "run"
    done = subprocess.run(
        python_module(
            "loadgen",
            "compare",
            "--launch",
            "--model-dir",
            str(tiny_dir),
            "--concurrency",
            "1",
            "--num-requests",
            "2",
            "--warmup",
            "0",
            "--input-len",
            "16",
            "--output-len",
            "8",
            "--offline-batches",
            "none",
            "--no-progress",
            "--output-dir",
            str(run),
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    parity = json.loads((run / "parity.json").read_text())
    gates = {g["name"]: g for g in parity["gates"]}
    assert gates["token_agreement"]["status"] == "pass"
    assert gates["token_agreement"]["details"]["targets"]["vllm"]["first_token_matches"] >= 6
    meta = json.loads((run / "run.json").read_text())
    assert meta["plan"]["random_values"] is True
    for server in meta["servers"]:
        launch = server["launch"]
        assert launch["first_token_s"] >= launch["load_time_s"] > 0, server["name"]


@pytest.mark.slow
def test_the_hf_server_serves_saved_weights_spread_by_a_device_map(tiny_dir: Path, tmp_path: Path) -> None:
    """`serve --device-map auto` (issue 15's launch option) end to end on CPU: accelerate maps every
    layer to the CPU here; the same greedy tokens come back as without a device map."""
    import httpx

    from tests.fixtures.procs import free_port, run_server

    answers: list[tuple[dict[str, Any], str]] = []
    for extra in ((), ("--device-map", "auto")):
        port = free_port()
        argv = python_module(
            "servers.hf", "serve", "--model-dir", str(tiny_dir), "--device", "cpu", "--port", str(port),
            *extra,
        )  # fmt: skip
        with run_server(argv, port, tmp_path / f"hf-{len(answers)}.log", timeout_s=240) as server:
            config = httpx.get(server.base_url + "/config", timeout=30).json()
            body = {"model": "tiny-test", "prompt": "The capital of", "max_tokens": 12, "temperature": 0}
            answer = httpx.post(server.base_url + "/v1/completions", json=body, timeout=120)
            assert answer.status_code == 200, answer.text
            answers.append((config, answer.json()["choices"][0]["text"]))
    assert answers[1][0]["device_map"] == "auto" and answers[1][0]["engine"] == "process"
    assert answers[0][1] == answers[1][1] and answers[0][1]
