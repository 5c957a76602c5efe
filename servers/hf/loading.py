"""Loading the model and tokenizer from a local directory onto the chosen device and precision.

`--dtype auto` takes the precision the directory's config names when it is bf16 or fp16; an fp32 (or
unnamed) model runs in fp32 on CPU and bf16 on CUDA. `--random-weights` builds the model from
`config.json` alone with random initialisation, directly on the device.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from servers.hf.attention import AttentionChoice, apply_sdpa_backend, describe
from servers.hf.settings import ServerSettings
from servers.vllm.launch import DEFAULT_MAX_MODEL_LEN

log = logging.getLogger("servers.hf")

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class ModelLoadError(RuntimeError):
    """The model directory or the device settings are unusable."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for `generate`, with what serving it needs to know."""

    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    eos_ids: frozenset[int]
    pad_token_id: int
    max_model_len: int
    attention: AttentionChoice
    vocab_size: int
    """Size of the model's vocabulary (token ids are below it)."""

    @property
    def backend(self) -> Any:
        """The fast `tokenizers.Tokenizer` (encoding and incremental decoding)."""
        return self.tokenizer.backend_tokenizer

    def encode(self, text: str, *, add_special_tokens: bool) -> list[int]:
        """Token ids of `text`.

        Through `encode_batch`, which releases the GIL while it works (`encode` holds it): a prompt
        of megabytes takes seconds, and the handlers run this in a thread so that the event loop
        and the generate thread go on meanwhile.
        """
        ids: list[int] = self.backend.encode_batch([text], add_special_tokens=add_special_tokens)[0].ids
        return ids


def generation_config(**fields: Any) -> Any:
    """A `transformers.GenerationConfig` (typed loosely: transformers' own hints are incomplete)."""
    import transformers

    config_class: Any = transformers.GenerationConfig
    return config_class(**fields)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for but torch sees no CUDA device")
    return torch.device(name)


def resolve_dtype(name: str, config_dtype: object, device: torch.device) -> torch.dtype:
    """The precision to load in (see the module docstring for `auto`)."""
    if name != "auto":
        return _DTYPES[name]
    named = str(config_dtype).removeprefix("torch.") if config_dtype is not None else ""
    if named in ("bfloat16", "float16"):
        return _DTYPES[named]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _eos_ids(model_dir: Path, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    path = model_dir / "generation_config.json"
    if path.is_file():
        value = json.loads(path.read_text()).get("eos_token_id")
        ids.update([value] if isinstance(value, int) else list(value or []))
    return frozenset(ids)


def cap_gpu_memory(budget_gib: float | None, device: torch.device, spread: bool) -> None:
    """Cap this process's CUDA allocations at `budget_gib` GiB on `device` (every visible GPU when the
    model is `spread` over them): past it, allocation fails as out of memory, as on a smaller GPU.

    The CUDA context itself (a few hundred MiB) is outside the cap, as it is outside vLLM's
    `--gpu-memory-utilization` share.
    """
    if budget_gib is None:
        return
    if device.type != "cuda":
        raise ModelLoadError(f"--gpu-memory-gib caps CUDA memory; this server runs on {device.type}")
    from servers.vllm.launch import gib_to_fraction

    indices = range(torch.cuda.device_count()) if spread else [device.index or 0]
    for index in indices:
        total = int(torch.cuda.get_device_properties(index).total_memory)
        try:
            fraction = gib_to_fraction(budget_gib, total)
        except ValueError as exc:
            raise ModelLoadError(f"--gpu-memory-gib: {exc}") from exc
        torch.cuda.set_per_process_memory_fraction(fraction, index)
        log.info("GPU %d capped at %.4f of %.1f GiB (%g GiB)", index, fraction, total / 2**30, budget_gib)


def _load_across_devices(
    auto: Any, settings: ServerSettings, config: Any, dtype: torch.dtype, extra: dict[str, Any]
) -> Any:
    """The model spread over the visible devices by accelerate's `settings.device_map` (a model too
    big for one GPU). Random weights are initialised in host memory, then dispatched: slow for a
    70B-class shape (minutes, and its full size in RAM), but the same initialisation as one device."""
    if not settings.random_weights:
        return auto.from_pretrained(settings.model_dir, dtype=dtype, device_map=settings.device_map, **extra)
    from accelerate import dispatch_model, infer_auto_device_map

    model = auto.from_config(config, dtype=dtype, **extra)
    balanced = settings.device_map != "sequential"
    device_map = infer_auto_device_map(
        model,
        dtype=dtype,
        no_split_module_classes=getattr(model, "_no_split_modules", None),
        **({"max_memory": _balanced_memory(model, dtype)} if balanced else {}),
    )
    log.info("device map: %s", sorted(set(map(str, device_map.values()))))
    return dispatch_model(model, device_map=device_map)


def _balanced_memory(model: Any, dtype: torch.dtype) -> dict[int | str, int] | None:
    from accelerate.utils import get_balanced_memory

    memory: dict[int | str, int] | None = get_balanced_memory(model, dtype=dtype)
    return memory


def load_tokenizer(model_dir: Path) -> Any:
    """The directory's fast tokenizer (ModelLoadError without `tokenizer.json`)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{model_dir} has no fast tokenizer (tokenizer.json)")
    return tokenizer


def load_model(settings: ServerSettings) -> LoadedModel:
    """Load `settings.model_dir` as the settings say."""
    from transformers import AutoConfig
    from transformers import AutoModelForCausalLM as _Auto

    auto: Any = _Auto

    model_dir = settings.model_dir
    if not (model_dir / "config.json").is_file():
        raise ModelLoadError(f"{model_dir} is not a model directory (no config.json)")
    device = resolve_device(settings.device)
    spread = settings.device_map is not None
    if spread and settings.gpu_memory_gib is not None and not torch.cuda.is_available():
        raise ModelLoadError("--gpu-memory-gib caps CUDA memory; torch sees no CUDA device")
    cap_gpu_memory(
        settings.gpu_memory_gib,
        torch.device("cuda") if settings.device_map is not None else device,
        spread=settings.device_map is not None,
    )
    config = AutoConfig.from_pretrained(model_dir)
    dtype = resolve_dtype(
        settings.dtype, getattr(config, "dtype", None) or getattr(config, "torch_dtype", None), device
    )
    extra: dict[str, Any] = {}
    if settings.attn_implementation:
        extra["attn_implementation"] = settings.attn_implementation
    kernels = apply_sdpa_backend(settings.sdpa_backend, device)
    tokenizer = load_tokenizer(model_dir)
    if settings.device_map is not None:
        model = _load_across_devices(auto, settings, config, dtype, extra)
        device = model.get_input_embeddings().weight.device  # where inputs go in
    elif settings.random_weights:
        with device:
            model = auto.from_config(config, dtype=dtype, **extra)
    else:
        model = auto.from_pretrained(model_dir, dtype=dtype, device_map=device, **extra)
    model.eval()
    context = int(getattr(config, "max_position_embeddings", 0) or 0) or DEFAULT_MAX_MODEL_LEN
    # Without --max-model-len, the launch configuration's default (what vLLM is started with), so a
    # server started by hand refuses the same prompts as one `loadgen compare --launch` starts.
    max_model_len = settings.max_model_len or min(DEFAULT_MAX_MODEL_LEN, context)
    if max_model_len > context:
        raise ModelLoadError(
            f"--max-model-len {max_model_len} exceeds the model's context of {context} tokens"
        )
    eos_ids = _eos_ids(model_dir, tokenizer)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = min(eos_ids) if eos_ids else 0
    implementation = str(getattr(model.config, "_attn_implementation", None) or "eager")
    attention = describe(implementation, settings.sdpa_backend, kernels)
    log.info("loaded %s on %s in %s (random weights: %s)", model_dir, device, dtype, settings.random_weights)
    log.info("attention: %s, %s", implementation, attention.reason)
    vocab_size = int(getattr(model.config, "vocab_size", 0) or len(tokenizer))
    return LoadedModel(
        model, tokenizer, device, dtype, eos_ids, int(pad), max_model_len, attention, vocab_size
    )
