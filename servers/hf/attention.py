"""Which of PyTorch's scaled-dot-product-attention kernels the HF server lets transformers use.

`--attn-implementation sdpa` (transformers' default) calls `torch.nn.functional.scaled_dot_product_attention`,
which picks one of several CUDA kernels per call. On Hopper, PyTorch tries cuDNN attention first, and
cuDNN builds a new execution graph for every new (batch, sequence length) shape. Decoding makes a new
sequence length at every step, so each new shape pays the build: on an H200 a first `generate` call
at batch 8 ran 70.8 ms per step against 12.8 ms for the same call repeated (docs/hf-server.md). A
warm-up cannot cover it (every batch size times every length), so `auto`, the default, turns cuDNN
attention off and leaves FlashAttention, memory-efficient attention and the math fallback on, the
choice an engineer would ship. Each named choice keeps the math kernel as the fallback for inputs its
fused kernel cannot take (FlashAttention takes no padding mask, for example); `cudnn` is PyTorch's own
default, kept to reproduce the stalls.

The switches are process-wide and apply to CUDA only: on CPU, PyTorch's CPU kernels run whatever is
chosen, and the choice is reported as not applying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

SdpaBackend = Literal["auto", "flash", "efficient", "cudnn", "math"]
SDPA_BACKENDS: tuple[SdpaBackend, ...] = ("auto", "flash", "efficient", "cudnn", "math")

_ENABLED: dict[SdpaBackend, tuple[str, ...]] = {
    "auto": ("flash", "efficient", "math"),
    "flash": ("flash", "math"),
    "efficient": ("efficient", "math"),
    "cudnn": ("cudnn", "flash", "efficient", "math"),
    "math": ("math",),
}
_REASONS: dict[SdpaBackend, str] = {
    "auto": (
        "cuDNN attention off: it builds a new cuDNN graph for every new (batch, sequence length) shape, "
        "and decoding makes a new length at every step (first calls 5-7x slower per step on an H200)"
    ),
    "flash": "FlashAttention only (math for inputs it cannot take, e.g. padded batches)",
    "efficient": "memory-efficient attention only (math for inputs it cannot take)",
    "cudnn": "PyTorch's default order, cuDNN attention first on Hopper (rebuilds per shape)",
    "math": "the unfused math kernel only",
}


@dataclass(frozen=True, slots=True)
class AttentionChoice:
    """What the server chose for attention, as `/config` and the report show it."""

    attn_implementation: str
    sdpa_backend: SdpaBackend
    sdpa_kernels: tuple[str, ...]
    """The CUDA SDPA kernels left enabled (empty where the switches do not apply)."""
    reason: str

    def public(self) -> dict[str, object]:
        """JSON-ready fields for `/config`."""
        return {
            "attn_implementation": self.attn_implementation,
            "sdpa_backend": self.sdpa_backend,
            "sdpa_kernels": list(self.sdpa_kernels),
            "attention_reason": self.reason,
        }


def apply_sdpa_backend(backend: SdpaBackend, device: torch.device) -> tuple[str, ...]:
    """Turn PyTorch's CUDA SDPA kernels on or off as `backend` says; returns the ones left on.

    On a non-CUDA device nothing is switched and the result is empty.
    """
    if device.type != "cuda":
        return ()
    enabled = _ENABLED[backend]
    torch.backends.cuda.enable_cudnn_sdp("cudnn" in enabled)
    torch.backends.cuda.enable_flash_sdp("flash" in enabled)
    torch.backends.cuda.enable_mem_efficient_sdp("efficient" in enabled)
    torch.backends.cuda.enable_math_sdp("math" in enabled)
    return enabled


def describe(attn_implementation: str, backend: SdpaBackend, kernels: tuple[str, ...]) -> AttentionChoice:
    """The record of what was chosen and why."""
    if attn_implementation != "sdpa":
        reason = f"attention through {attn_implementation}: the SDPA kernel switches do not apply"
    elif not kernels:
        reason = "CPU: PyTorch's CPU SDPA kernels (the kernel switches apply to CUDA only)"
    else:
        reason = _REASONS[backend]
    return AttentionChoice(attn_implementation, backend, kernels, reason)
