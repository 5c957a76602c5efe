"""The HF server's batch size as a deployment would pick it: the largest that fits the GPU.

A team serving `generate` behind an API sets `--max-batch-size` to the largest batch whose worst
case fits: every row at the longest prompt the traffic allows, generating up to the longest total
length (ShareGPT as vLLM's benchmark filters it: prompts <= 1024 tokens, prompt + output <= 2048).
Bisecting with real out-of-memory failures would take a full-length `generate` per try; this probe
instead measures, for two batch sizes, the peak memory of a prefill at the longest prompt plus two
decoding steps (weights, activations, the cache at that length: a straight line in the batch size),
adds the cache of the remaining tokens from the model's shape (K and V of every layer, plus one
layer's copy while the cache grows), and solves for the largest batch under the budget (the whole
GPU, or `--gpu-memory-gib`) less a 5% margin, rounded down to a multiple of 8. `--verify` then runs
that batch at full length once and steps down 10% on an out-of-memory failure (at most 3 times).

    python -m benchmarks.hf_batch_probe --model-dir DIR --device cuda [--gpu-memory-gib 24] [--verify]

`--try-batches 80,88,96` skips the solver and runs each batch at full length in turn, up to the first
that runs out of memory, and keeps PyTorch's own account of that failure (its message gives the
memory reserved but unallocated at that moment: fragmentation): run it with and without
`PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` to see what fragmentation costs a capped server.

Prints `max_batch_size=N` last (for scripts) and writes the figures as JSON (`--out`). CUDA only:
peak memory is the CUDA caching allocator's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MARGIN = 0.05
ROUND_TO = 8


@dataclass(frozen=True)
class MemoryLine:
    """Peak bytes = fixed + per_row x batch, measured at the longest prompt; plus the rest of the cache."""

    fixed_bytes: float
    per_row_bytes: float
    cache_rest_bytes_per_row: float
    """Cache of the tokens past the prompt, per row, plus one layer's copy while the cache grows."""

    def peak(self, batch: int) -> float:
        """Predicted peak bytes of a full-length batch."""
        return self.fixed_bytes + batch * (self.per_row_bytes + self.cache_rest_bytes_per_row)


def fit_line(batches: tuple[int, int], peaks: tuple[float, float], cache_rest: float) -> MemoryLine:
    """The line through two (batch, peak bytes) measurements."""
    (b1, b2), (p1, p2) = batches, peaks
    if b2 <= b1:
        raise ValueError("the second probe batch must be larger than the first")
    slope = (p2 - p1) / (b2 - b1)
    if slope <= 0:
        raise ValueError(f"peak memory did not grow with the batch ({p1:.0f} -> {p2:.0f} bytes)")
    return MemoryLine(p1 - slope * b1, slope, cache_rest)


def kv_bytes_per_token(config: Any, element_bytes: int) -> int:
    """K and V of every layer for one token."""
    heads = int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)
    return 2 * int(config.num_hidden_layers) * heads * head_dim * element_bytes


def cache_rest_per_row(config: Any, element_bytes: int, prompt_len: int, total_len: int) -> float:
    """Cache bytes a row adds from the prompt's end to `total_len`, plus one layer's copy at full length
    (transformers' dynamic cache concatenates, briefly holding a layer's old and new tensors)."""
    per_token = kv_bytes_per_token(config, element_bytes)
    return per_token * (total_len - prompt_len) + per_token / int(config.num_hidden_layers) * total_len


def largest_batch(line: MemoryLine, budget_bytes: float, cap: int) -> int:
    """The largest multiple of 8 (or batch below 8) whose predicted peak fits the budget less the margin."""
    room = budget_bytes * (1 - MARGIN) - line.fixed_bytes
    per_row = line.per_row_bytes + line.cache_rest_bytes_per_row
    fits = min(cap, int(room // per_row)) if room > 0 else 0
    return fits - fits % ROUND_TO if fits >= ROUND_TO else max(fits, 0)


def probe_peaks(
    measure: Callable[[int], float], batches: tuple[int, int], is_oom: Callable[[BaseException], bool]
) -> tuple[tuple[int, int], tuple[float, float]]:
    """Peaks at two batch sizes. A size that runs out of memory is halved and tried again (the first
    down to 1, the second down to one above the first): a large model under a tight budget cannot
    prefill 16 rows of 1,024 tokens, but two smaller probes still give the line."""
    b1, b2 = batches
    while True:
        try:
            p1 = measure(b1)
            break
        except Exception as exc:  # noqa: BLE001 - only out of memory is retried
            if not is_oom(exc) or b1 == 1:
                raise
            b1 = max(1, b1 // 2)
    b2 = max(b2, b1 + 1)
    while True:
        try:
            return (b1, b2), (p1, measure(b2))
        except Exception as exc:  # noqa: BLE001 - only out of memory is retried
            if not is_oom(exc) or b2 == b1 + 1:
                raise
            b2 = max(b1 + 1, b2 // 2)


@dataclass(frozen=True)
class BatchTry:
    """One full-length batch: its peak, or the allocator's state when it ran out of memory."""

    batch: int
    fits: bool
    peak_bytes: float | None = None
    seconds: float | None = None
    error: str | None = None
    """The out-of-memory message: PyTorch's account at the moment of failure (what it tried to
    allocate, what was free, and what was reserved but unallocated)."""
    reserved_bytes: float | None = None
    """After the failed batch unwound: what the caching allocator still held."""
    allocated_bytes: float | None = None
    """After the failed batch unwound: what tensors still used (the weights, mostly)."""


def try_batches(
    run: Callable[[int], float],
    batches: tuple[int, ...],
    is_oom: Callable[[BaseException], bool],
    memory_state: Callable[[], tuple[float, float]],
) -> list[BatchTry]:
    """Run each batch (ascending) at full length until one runs out of memory; `memory_state` gives
    (reserved, allocated) bytes, read once that batch has unwound."""
    tries: list[BatchTry] = []
    for batch in sorted(set(batches)):
        started = time.perf_counter()
        try:
            peak = run(batch)
        except Exception as exc:  # noqa: BLE001 - only out of memory is expected
            if not is_oom(exc):
                raise
            reserved, allocated = memory_state()
            tries.append(
                BatchTry(
                    batch, False, error=str(exc)[:1000], reserved_bytes=reserved, allocated_bytes=allocated
                )
            )
            break
        tries.append(BatchTry(batch, True, peak_bytes=peak, seconds=time.perf_counter() - started))
    return tries


def _peak_of(model: Any, batch: int, prompt_len: int, new_tokens: int, vocab: int) -> float:
    import torch

    device = next(model.parameters()).device
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    ids = torch.randint(0, vocab, (batch, prompt_len), device=device)
    with torch.inference_mode():
        model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
        )
    torch.cuda.synchronize(device)
    return float(torch.cuda.max_memory_allocated(device))


def probe(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model as the server does, measure, solve, optionally verify."""
    import torch

    from servers.hf.loading import load_model
    from servers.hf.runner import is_out_of_memory
    from servers.hf.settings import ServerSettings

    settings = ServerSettings(
        model_dir=args.model_dir.resolve(),
        served_model_name=args.model_dir.name,
        device="cuda",
        dtype=args.dtype,
        gpu_memory_gib=args.gpu_memory_gib,
        random_weights=args.random_weights,
        max_model_len=args.total_len,
    )
    loaded = load_model(settings)
    model, config = loaded.model, loaded.model.config
    element = torch.empty((), dtype=loaded.dtype).element_size()
    total = torch.cuda.get_device_properties(loaded.device).total_memory
    budget = args.gpu_memory_gib * 2**30 if args.gpu_memory_gib else total
    setting: dict[str, Any] = {
        "model_dir": str(settings.model_dir),
        "dtype": str(loaded.dtype),
        "prompt_len": args.prompt_len,
        "total_len": args.total_len,
        "budget_bytes": budget,
        "device_total_bytes": total,
    }

    def full_length(batch: int) -> float:
        return _peak_of(model, batch, args.prompt_len, args.total_len - args.prompt_len, loaded.vocab_size)

    if args.try_batches:
        return {**setting, **_tried(args.try_batches, full_length, is_out_of_memory, loaded.device)}
    (b1, b2), peaks = probe_peaks(
        lambda batch: _peak_of(model, batch, args.prompt_len, 2, loaded.vocab_size),
        args.probe_batches,
        is_out_of_memory,
    )
    line = fit_line((b1, b2), peaks, cache_rest_per_row(config, element, args.prompt_len, args.total_len))
    chosen = largest_batch(line, budget, args.max_batch)
    result: dict[str, Any] = {
        **setting,
        "probe_batches": [b1, b2],
        "probe_peaks_bytes": list(peaks),
        "line": asdict(line),
        "predicted_peak_bytes": line.peak(chosen),
        "max_batch_size": chosen,
        "verified": None,
        "verify_failures": [],
    }
    if args.verify and chosen > 0:
        for _ in range(3):
            started = time.perf_counter()
            try:
                peak = full_length(chosen)
            except Exception as exc:  # noqa: BLE001 - only out of memory is expected
                if not is_out_of_memory(exc):
                    raise
                result["verify_failures"].append(chosen)
                chosen = max(1, int(chosen * 0.9) // ROUND_TO * ROUND_TO or int(chosen * 0.9))
                continue
            result.update(
                verified=True, verified_peak_bytes=peak, verify_seconds=time.perf_counter() - started
            )
            break
        else:
            result["verified"] = False
        result["max_batch_size"] = chosen
    return result


def _tried(
    batches: tuple[int, ...],
    full_length: Callable[[int], float],
    is_oom: Callable[[BaseException], bool],
    device: Any,
) -> dict[str, Any]:
    """`--try-batches`: each batch at full length, up to the first out-of-memory failure."""
    import torch

    tries = try_batches(
        full_length,
        batches,
        is_oom,
        lambda: (float(torch.cuda.memory_reserved(device)), float(torch.cuda.memory_allocated(device))),
    )
    return {
        "cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        "tries": [asdict(t) for t in tries],
        "max_batch_size": max((t.batch for t in tries if t.fits), default=0),
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line (also used to check the GPU scripts' command lines)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hf_batch_probe", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--gpu-memory-gib", type=float, help="budget [default: the whole GPU]")
    parser.add_argument(
        "--prompt-len", type=int, default=1024, help="longest prompt  [1024, ShareGPT's filter]"
    )
    parser.add_argument("--total-len", type=int, default=2048, help="longest prompt + output  [2048]")
    parser.add_argument(
        "--probe-batches", type=lambda s: tuple(int(x) for x in s.split(",")), default=(4, 16)
    )
    parser.add_argument("--max-batch", type=int, default=1024, help="never pick more than this")
    parser.add_argument("--verify", action="store_true", help="run the chosen batch once at full length")
    parser.add_argument(
        "--try-batches",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        help="no solver: run these batches at full length, up to the first out of memory",
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI (see the module docstring)."""
    args = build_parser().parse_args(argv)
    if args.device != "cuda":
        print(
            "hf_batch_probe: measures CUDA memory; run it with --device cuda on a GPU host", file=sys.stderr
        )
        return 2
    if not 0 < args.prompt_len < args.total_len:
        print("hf_batch_probe: need 0 < --prompt-len < --total-len", file=sys.stderr)
        return 2
    result = probe(args)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    print(f"max_batch_size={result['max_batch_size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
