"""`hf-server prepare-model` and `make-config`: the model directories both servers load."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from servers.hf.model_dir import MANIFEST_NAME, build_atomically, is_complete, write_manifest
from servers.hf.prepare import prepare_model
from tests.fixtures.procs import python_module


def test_prepared_directory_holds_bf16_weights_tokenizer_and_template(smollm2_dir: Path) -> None:
    from safetensors import safe_open

    names = {p.name for p in smollm2_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        MANIFEST_NAME,
    } <= names
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["num_hidden_layers"] == 30 and config["vocab_size"] == 49152
    assert "quantization_config" not in config, "vLLM would look for GGUF weights"
    generation = json.loads((smollm2_dir / "generation_config.json").read_text())
    assert not {"temperature", "top_p", "top_k", "do_sample"} & generation.keys()
    assert generation["eos_token_id"] == 2
    with safe_open(str(smollm2_dir / "model.safetensors"), framework="pt") as weights:
        key = next(iter(weights.keys()))
        assert str(weights.get_slice(key).get_dtype()) == "BF16"


def test_prepared_tokenizer_renders_the_chatml_template(smollm2_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    text: str = tokenizer.apply_chat_template(  # type: ignore[assignment]
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"


def test_prepare_model_returns_at_once_when_complete(smollm2_dir: Path) -> None:
    started = time.perf_counter()
    assert prepare_model(smollm2_dir) is False
    assert time.perf_counter() - started < 1.0


def _write_files(names: list[str]) -> object:
    def build(tmp: Path) -> None:
        for name in names:
            (tmp / name).write_text(name)
        write_manifest(tmp, {"test": True})

    return build


def test_an_incomplete_directory_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")  # a leftover without a manifest
    assert not is_complete(target)
    assert build_atomically(target, _write_files(["config.json", "weights.bin"])) is True  # type: ignore[arg-type]
    assert is_complete(target)
    assert (target / "weights.bin").read_text() == "weights.bin"
    assert build_atomically(target, _write_files(["other"])) is False  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["model"]


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_atomically(tmp_path / "model", broken)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_make_config_writes_a_weightless_llama_3_2_1b_shape(llama_1b_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    assert not list(llama_1b_dir.glob("*.safetensors"))
    config = AutoConfig.from_pretrained(llama_1b_dir)
    assert (
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.intermediate_size,
        config.vocab_size,
    ) == (16, 2048, 32, 8, 8192, 128256)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    params = sum(p.numel() for p in model.parameters())
    assert 1.23e9 < params < 1.24e9  # Llama-3.2-1B's 1.24 B, its real vocabulary included
    tokenizer = AutoTokenizer.from_pretrained(llama_1b_dir)
    assert len(tokenizer) == 128256  # SmolLM2's 49,152 tokens and fillers up to the model's vocabulary


def test_cli_rejects_an_unknown_preset_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        python_module("servers.hf", "make-config", "--preset", "gpt-5", str(tmp_path / "x")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "unknown preset 'gpt-5'" in result.stderr
    assert "Traceback" not in result.stderr


def test_llama_2_presets_have_plain_rope_and_their_published_shapes() -> None:
    from servers.hf.presets import PRESETS, llama_config

    config = llama_config(PRESETS["llama-2-70b"], 1, 2)
    assert config["num_hidden_layers"] == 80 and config["hidden_size"] == 8192
    assert config["num_attention_heads"] == 64
    assert config["num_key_value_heads"] == 8 and config["intermediate_size"] == 28672
    assert config["rope_scaling"] is None and config["max_position_embeddings"] == 4096
    assert llama_config(PRESETS["llama-2-7b"], 1, 2)["num_key_value_heads"] == 32
    assert llama_config(PRESETS["llama-3.2-1b"], 1, 2)["rope_scaling"]["rope_type"] == "llama3"
