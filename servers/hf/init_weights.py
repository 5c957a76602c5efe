"""`hf-server init-weights`: random weights written once into a model directory, for both servers.

vLLM's `--load-format dummy` and the HF server's `--random-weights` each draw their own random
weights, so the two servers serve different models and greedy outputs cannot be compared. Here the
weights are drawn once (seeded; on the GPU where there is one: seconds for a 7B shape) and saved as
safetensors shards with an index, the layout of a published checkpoint, so vLLM and the HF server load
the same files and the greedy parity gate means something at any shape.

The values follow transformers' own initialisation of Llama and Qwen2 (`initializer_range`, 0.02:
every matrix and embedding normal(0, 0.02), every RMSNorm weight 1, every bias 0), with one change:
the projections that end a residual branch (`o_proj`, `down_proj`) get std / sqrt(2 x layers), GPT-2's
scaled initialisation. Without it a deep random model amplifies rounding: on a 12-layer test shape,
greedy outputs in bf16 and fp32 shared 49% of their first 32 tokens (mean prefix share over the 8
parity prompts); with it, 91%, so greedy agreement between two servers says something. Drawn in float32 and
rounded once to the saved precision, so a float32 directory rounds to the same bf16/fp16 values a
server loading it in lower precision uses. The tensors are produced one at a time and written shard
by shard, so a 70B shape needs neither its full size in device memory nor in RAM.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from servers.hf.model_dir import MANIFEST_NAME, write_manifest

INDEX_NAME = "model.safetensors.index.json"
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
DEFAULT_SHARD_BYTES = 4 << 30


@dataclass(frozen=True)
class InitReport:
    """What `init_weights` wrote."""

    directory: Path
    tensors: int
    parameters: int
    bytes: int
    shards: tuple[str, ...]
    seconds: float
    written: bool
    """False when the directory already held weights of the same seed, precision and std."""


def tensor_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor a checkpoint of `config` holds (tied output projection left out)."""
    from transformers import AutoModelForCausalLM

    auto: Any = AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    if getattr(config, "tie_word_embeddings", False):
        shapes.pop("lm_head.weight", None)
    return shapes


RESIDUAL_OUTPUTS = ("o_proj.weight", "down_proj.weight")
"""The projections whose output is added to the residual stream: std / sqrt(2 x layers)."""


def initial_value(
    name: str, shape: tuple[int, ...], std: float, layers: int, generator: torch.Generator
) -> torch.Tensor:
    """One tensor's random value in float32 on the generator's device (see the module docstring)."""
    device = generator.device
    if name.endswith("norm.weight"):
        return torch.ones(shape, dtype=torch.float32, device=device)
    if name.endswith(".bias"):
        return torch.zeros(shape, dtype=torch.float32, device=device)
    if name.endswith(RESIDUAL_OUTPUTS):
        std = std / math.sqrt(2 * layers)
    return torch.empty(shape, dtype=torch.float32, device=device).normal_(0.0, std, generator=generator)


def plan_shards(
    shapes: dict[str, tuple[int, ...]], element_bytes: int, max_shard_bytes: int
) -> list[list[str]]:
    """Tensor names grouped into shards of at most `max_shard_bytes` (a bigger tensor gets its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        nbytes = element_bytes * _numel(shape)
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _shard_name(index: int, total: int) -> str:
    return f"model-{index:05d}-of-{total:05d}.safetensors"


def weights_info(model_dir: Path) -> dict[str, Any] | None:
    """The `random_weights` entry the manifest records for weights written here, else None."""
    try:
        manifest = json.loads((model_dir / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    info = manifest.get("random_weights")
    return info if isinstance(info, dict) else None


def init_weights(
    model_dir: Path,
    *,
    seed: int = 0,
    dtype: str = "bfloat16",
    device: str = "cpu",
    std: float | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    force: bool = False,
) -> InitReport:
    """Draw seeded random weights for `model_dir`'s `config.json` and save them as safetensors shards."""
    from safetensors.torch import save_file
    from transformers import AutoConfig

    started = time.perf_counter()
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no config.json (write one with hf-server make-config)")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    config = AutoConfig.from_pretrained(model_dir)
    std = float(std if std is not None else getattr(config, "initializer_range", 0.02))
    layers = int(config.num_hidden_layers)
    wanted = {
        "seed": seed,
        "dtype": dtype,
        "std": std,
        "residual_output_std": std / math.sqrt(2 * layers),
        "norms": 1.0,
        "biases": 0.0,
    }
    existing = weights_info(model_dir)
    shapes = tensor_shapes(config)
    parameters = sum(_numel(s) for s in shapes.values())
    element = torch.empty((), dtype=DTYPES[dtype]).element_size()
    if existing is not None and not force and {k: existing.get(k) for k in wanted} == wanted:
        shards = tuple(sorted(p.name for p in model_dir.glob("model-*.safetensors")))
        return InitReport(
            model_dir, len(shapes), parameters, parameters * element, shards,
            time.perf_counter() - started, written=False,
        )  # fmt: skip
    _remove_weights(model_dir)
    groups = plan_shards(shapes, element, max_shard_bytes)
    generator = torch.Generator(device=torch.device(device)).manual_seed(seed)
    weight_map: dict[str, str] = {}
    names: list[str] = []
    for index, group in enumerate(groups, start=1):
        name = _shard_name(index, len(groups))
        tensors = dict(_draw(group, shapes, std, layers, generator, DTYPES[dtype]))
        partial = model_dir / f".{name}.partial"
        save_file(tensors, str(partial), metadata={"format": "pt"})
        os.replace(partial, model_dir / name)
        weight_map.update({tensor: name for tensor in group})
        names.append(name)
    index_data = {"metadata": {"total_size": parameters * element}, "weight_map": weight_map}
    (model_dir / INDEX_NAME).write_text(json.dumps(index_data, indent=2) + "\n")
    _update_manifest(model_dir, {**wanted, "device": device, "tool": "hf-server init-weights"})
    return InitReport(
        model_dir, len(shapes), parameters, parameters * element, tuple(names),
        time.perf_counter() - started, written=True,
    )  # fmt: skip


def _draw(
    names: list[str],
    shapes: dict[str, tuple[int, ...]],
    std: float,
    layers: int,
    generator: torch.Generator,
    dtype: torch.dtype,
) -> Iterator[tuple[str, torch.Tensor]]:
    for name in names:
        value = initial_value(name, shapes[name], std, layers, generator)
        yield name, value.to(dtype).cpu().contiguous()


def _remove_weights(model_dir: Path) -> None:
    for path in [*model_dir.glob("*.safetensors"), *model_dir.glob(".*.partial"), model_dir / INDEX_NAME]:
        path.unlink(missing_ok=True)


def _update_manifest(model_dir: Path, info: dict[str, Any]) -> None:
    """Record the weights in the manifest (rewritten last, listing the shards as part of the directory)."""
    try:
        manifest = json.loads((model_dir / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        manifest = {}
    manifest.pop("files", None)
    manifest["weights"] = "random, saved as safetensors by hf-server init-weights: the same on every server"
    manifest["random_weights"] = info
    write_manifest(model_dir, manifest)
