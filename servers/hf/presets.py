"""Weightless model directories of a given shape, for `--random-weights` (vLLM: `--load-format dummy`).

A preset is a Llama architecture of a known model's shape. The vocabulary is SmolLM2's (49,152
tokens) and the tokenizer files are copied from the SmolLM2 directory, so both servers can tokenize
prompts and detokenize output. The directory holds `config.json`, the tokenizer files and
`generation_config.json`, and no weights.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers.hf.model_dir import MANIFEST_NAME, build_atomically, is_complete, write_manifest

SMOLLM2_VOCAB = 49152
_COPIED_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)


@dataclass(frozen=True)
class Shape:
    """The dimensions of a Llama-architecture model."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    tie_word_embeddings: bool
    rope_factor: float | None
    """Llama 3's rope scaling factor; None: Llama 2's plain rope (theta 10,000, 4,096 positions)."""


PRESETS: dict[str, Shape] = {
    "llama-3.2-1b": Shape(2048, 8192, 16, 32, 8, True, 32.0),
    "llama-3.2-3b": Shape(3072, 8192, 28, 24, 8, True, 32.0),
    "llama-3.1-8b": Shape(4096, 14336, 32, 32, 8, False, 8.0),
    "llama-2-7b": Shape(4096, 11008, 32, 32, 32, False, None),
    "llama-2-13b": Shape(5120, 13824, 40, 40, 40, False, None),
    "llama-2-70b": Shape(8192, 28672, 80, 64, 8, False, None),
}


def llama_config(
    shape: Shape, bos_token_id: int | None, eos_token_id: int | list[int] | None
) -> dict[str, Any]:
    """A Llama `config.json` of `shape` with SmolLM2's vocabulary and special tokens."""
    if shape.rope_factor is None:
        rope: dict[str, Any] = {"max_position_embeddings": 4096, "rope_scaling": None, "rope_theta": 10000.0}
    else:
        rope = {
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
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "head_dim": shape.hidden_size // shape.num_attention_heads,
        "hidden_act": "silu",
        "hidden_size": shape.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": shape.intermediate_size,
        "mlp_bias": False,
        "num_attention_heads": shape.num_attention_heads,
        "num_hidden_layers": shape.num_hidden_layers,
        "num_key_value_heads": shape.num_key_value_heads,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        **rope,
        "tie_word_embeddings": shape.tie_word_embeddings,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": SMOLLM2_VOCAB,
    }


def make_config(preset: str, target: Path, tokenizer_dir: Path) -> bool:
    """Write a weightless `preset`-shaped model directory at `target`; False if it already was complete.

    `tokenizer_dir` is a complete SmolLM2 directory (see `servers.hf.prepare`).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    if not is_complete(tokenizer_dir):
        raise FileNotFoundError(f"{tokenizer_dir} is not a complete model directory (run prepare-model)")
    source_config = json.loads((tokenizer_dir / "config.json").read_text())
    config = llama_config(
        PRESETS[preset], source_config.get("bos_token_id"), source_config.get("eos_token_id")
    )

    def build(tmp: Path) -> None:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        for name in _COPIED_FILES:
            if (tokenizer_dir / name).is_file():
                shutil.copy2(tokenizer_dir / name, tmp / name)
        write_manifest(
            tmp,
            {
                "preset": preset,
                "weights": "none: load with random weights",
                "tokenizer_from": str(tokenizer_dir / MANIFEST_NAME),
            },
        )

    return build_atomically(target, build)
