"""Warm-up at start-up: `generate` calls at the batch sizes the batcher can form, before `/health` is 200.

A first `generate` call at a new batch size pays one-off costs (CUDA context and cuBLAS set-up, the
caching allocator growing, kernels chosen for new shapes) that would otherwise land on the first
requests of a measured run. The warm-up makes one call per batch size, each with prompts of
`prompt_len` tokens and `new_tokens` new ones (greedy, EOS ignored), through the same runner the server
uses, and times each: the time is part of the server's load time and `/config` shows it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from servers.hf.params import GenerationParams
from servers.hf.request import Event, GenRequest
from servers.hf.runner import GenerateRunner

log = logging.getLogger("servers.hf")

PROMPT_LEN = 64
NEW_TOKENS = 16


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """What the warm-up ran and how long each call took."""

    batch_sizes: tuple[int, ...]
    seconds: tuple[float, ...]
    prompt_len: int
    new_tokens: int

    @property
    def total_s(self) -> float:
        """All warm-up calls together."""
        return sum(self.seconds)

    def public(self) -> dict[str, object]:
        """JSON-ready fields for `/config`."""
        return {
            "batch_sizes": list(self.batch_sizes),
            "seconds": [round(s, 4) for s in self.seconds],
            "total_s": round(self.total_s, 4),
            "prompt_len": self.prompt_len,
            "new_tokens": self.new_tokens,
        }


def default_batch_sizes(max_batch_size: int, device: torch.device) -> tuple[int, ...]:
    """Every power of two below `max_batch_size`, and it, on CUDA; nothing on CPU (no one-off costs
    worth the start-up time were measured there)."""
    if device.type != "cuda":
        return ()
    sizes = [1 << k for k in range(max_batch_size.bit_length()) if 1 << k < max_batch_size]
    return (*sizes, max_batch_size)


def _discard(_: list[tuple[GenRequest, Event]]) -> None:
    pass


def warm_up(
    runner: GenerateRunner,
    batch_sizes: tuple[int, ...],
    vocab_size: int,
    max_model_len: int,
) -> WarmupReport:
    """Run one `generate` call per batch size; raise RuntimeError if one fails."""
    prompt_len = max(1, min(PROMPT_LEN, max_model_len // 2))
    new_tokens = max(1, min(NEW_TOKENS, max_model_len - prompt_len))
    prompt = [(i * 7919) % max(1, vocab_size - 1) + 1 for i in range(prompt_len)]
    params = GenerationParams(max_tokens=new_tokens, temperature=0.0, ignore_eos=True)
    seconds: list[float] = []
    for size in batch_sizes:
        batch = [GenRequest(list(prompt), params) for _ in range(size)]
        start = time.perf_counter()
        outcome = runner.run(batch, _discard)
        seconds.append(time.perf_counter() - start)
        if outcome.failed is not None:
            raise RuntimeError(f"warm-up at batch {size} failed: {outcome.failed}")
        log.info("warm-up: batch %d, %d tokens each, %.3f s", size, new_tokens, seconds[-1])
    return WarmupReport(tuple(batch_sizes), tuple(seconds), prompt_len, new_tokens)
