"""Model directories of a known model's shape, with no weights (or random ones: `hf-server init-weights`).

A preset is the architecture and dimensions of a published model, taken from that model's
`config.json` on the Hugging Face hub (cited per preset below). The hub cannot be reached where
servebench is developed or measured, so the tokenizer is SmolLM2's (copied from the SmolLM2
directory), resized to the model's real vocabulary (`servers/hf/vocab.py`: truncated to 32,000 for
Llama 2 and TinyLlama, padded with filler tokens to 128,256 for Llama 3 and 152,064 for Qwen2.5), so
the embedding and output projection have their real size and every id the model can produce decodes.
Special tokens (BOS, EOS, chat template) are SmolLM2's. The directory holds `config.json`, the
tokenizer files, `generation_config.json` and the manifest; weights come from `--random-weights` (vLLM:
`--load-format dummy`) or, identical on both servers, from `hf-server init-weights`.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from servers.hf.model_dir import MANIFEST_NAME, build_atomically, is_complete, write_manifest
from servers.hf.vocab import resize_tokenizer

SMOLLM2_VOCAB = 49152
_COPIED_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)
Architecture = Literal["llama", "qwen2"]


@dataclass(frozen=True)
class Shape:
    """The dimensions of a Llama- or Qwen2-architecture model, as its `config.json` gives them."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    tie_word_embeddings: bool
    rope_factor: float | None
    """Llama 3's rope scaling factor (theta 500,000, 131,072 positions); None: plain rope."""
    vocab_size: int = SMOLLM2_VOCAB
    rope_theta: float = 10000.0
    """Plain rope's theta (ignored with `rope_factor`)."""
    max_position_embeddings: int = 4096
    """Plain rope's context (ignored with `rope_factor`)."""
    rms_norm_eps: float = 1e-5
    architecture: Architecture = "llama"
    """`qwen2`: Qwen2ForCausalLM, whose q/k/v projections carry a bias (fixed in the architecture)."""
    source: str = ""
    """Where the dimensions come from."""


PRESETS: dict[str, Shape] = {
    "llama-3.2-1b": Shape(
        2048, 8192, 16, 32, 8, True, 32.0, vocab_size=128256,
        source="meta-llama/Llama-3.2-1B-Instruct config.json",
    ),
    "llama-3.2-3b": Shape(
        3072, 8192, 28, 24, 8, True, 32.0, vocab_size=128256,
        source="meta-llama/Llama-3.2-3B-Instruct config.json",
    ),
    "llama-3.1-8b": Shape(
        4096, 14336, 32, 32, 8, False, 8.0, vocab_size=128256,
        source="meta-llama/Llama-3.1-8B-Instruct config.json",
    ),
    "llama-2-7b": Shape(
        4096, 11008, 32, 32, 32, False, None, vocab_size=32000, source="meta-llama/Llama-2-7b-hf config.json"
    ),
    "llama-2-13b": Shape(
        5120, 13824, 40, 40, 40, False, None, vocab_size=32000, source="meta-llama/Llama-2-13b-hf config.json"
    ),
    "llama-2-70b": Shape(
        8192, 28672, 80, 64, 8, False, None, vocab_size=32000, source="meta-llama/Llama-2-70b-hf config.json"
    ),
    "tinyllama-1.1b": Shape(
        2048, 5632, 22, 32, 4, False, None, vocab_size=32000, max_position_embeddings=2048,
        source="TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json",
    ),
    "qwen2.5-7b": Shape(
        3584, 18944, 28, 28, 4, False, None, vocab_size=152064, rope_theta=1000000.0,
        max_position_embeddings=32768, rms_norm_eps=1e-6, architecture="qwen2",
        source="Qwen/Qwen2.5-7B-Instruct config.json (sliding window off: use_sliding_window false)",
    ),
    # Not a published model: the smallest shape both vLLM (CPU) and transformers serve, for tests of
    # identical random weights (head_dim 64, a CPU attention size vLLM supports).
    "tiny-test": Shape(
        256, 512, 2, 4, 2, False, None, max_position_embeddings=2048, source="servebench tests"
    ),
    # tiny-test in the Qwen2 architecture: what a CPU rehearsal of a Qwen2 preset serves.
    "tiny-qwen2-test": Shape(
        256, 512, 2, 4, 2, False, None, rope_theta=1000000.0, max_position_embeddings=2048,
        rms_norm_eps=1e-6, architecture="qwen2", source="servebench tests",
    ),
}  # fmt: skip


def _rope(shape: Shape) -> dict[str, Any]:
    if shape.rope_factor is None:
        return {
            "max_position_embeddings": shape.max_position_embeddings,
            "rope_scaling": None,
            "rope_theta": shape.rope_theta,
        }
    return {
        "max_position_embeddings": 131072,
        "rope_scaling": {
            "factor": shape.rope_factor,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
    }


def llama_config(
    shape: Shape, bos_token_id: int | None, eos_token_id: int | list[int] | None
) -> dict[str, Any]:
    """The `config.json` of `shape` (Llama, or Qwen2 for a `qwen2` shape) with SmolLM2's special tokens."""
    common: dict[str, Any] = {
        "attention_dropout": 0.0,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "hidden_act": "silu",
        "hidden_size": shape.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": shape.intermediate_size,
        "num_attention_heads": shape.num_attention_heads,
        "num_hidden_layers": shape.num_hidden_layers,
        "num_key_value_heads": shape.num_key_value_heads,
        "rms_norm_eps": shape.rms_norm_eps,
        **_rope(shape),
        "tie_word_embeddings": shape.tie_word_embeddings,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": shape.vocab_size,
    }
    if shape.architecture == "qwen2":
        return {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            **common,
            "max_window_layers": shape.num_hidden_layers,
            "sliding_window": None,
            "use_sliding_window": False,
        }
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "head_dim": shape.hidden_size // shape.num_attention_heads,
        "mlp_bias": False,
        "pretraining_tp": 1,
        **common,
    }


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def make_config(preset: str, target: Path, tokenizer_dir: Path) -> bool:
    """Write a weightless `preset`-shaped model directory at `target`; False if it already was complete.

    `tokenizer_dir` is a complete SmolLM2 directory (see `servers.hf.prepare`).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    if not is_complete(tokenizer_dir):
        raise FileNotFoundError(f"{tokenizer_dir} is not a complete model directory (run prepare-model)")
    shape = PRESETS[preset]
    source_config = json.loads((tokenizer_dir / "config.json").read_text())
    config = llama_config(shape, source_config.get("bos_token_id"), source_config.get("eos_token_id"))
    # Without it transformers 5 takes a large-vocabulary local tokenizer for an old Mistral one and
    # warns that its (correct) regex is wrong.
    config["transformers_version"] = _installed_version("transformers")
    tokenizer = resize_tokenizer(json.loads((tokenizer_dir / "tokenizer.json").read_text()), shape.vocab_size)

    def build(tmp: Path) -> None:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
        for name in _COPIED_FILES:
            if (tokenizer_dir / name).is_file():
                shutil.copy2(tokenizer_dir / name, tmp / name)
        write_manifest(
            tmp,
            {
                "preset": preset,
                "shape_source": shape.source,
                "weights": "none: load with random weights, or write them with hf-server init-weights",
                "tokenizer_from": str(tokenizer_dir / MANIFEST_NAME),
                "tokenizer_vocab": f"SmolLM2's, resized to {shape.vocab_size} ids (servers/hf/vocab.py)",
            },
        )

    return build_atomically(target, build)
