"""vLLM's own account of its GPU memory at start-up, read from its log.

Why it is needed: `--gpu-memory-utilization` is meant to bound everything vLLM takes, but vLLM
0.26's V2 model runner (the default on CUDA) does not estimate its CUDA graphs while profiling
(`profile_cudagraph_memory` returns 0 in `vllm/v1/worker/gpu/model_runner.py`), so the graphs come
on top of the fraction: 24.75 GiB against 23.86 GiB asked in write-up 3's run. After start-up the
GPU worker logs what it used (weights, peak activation, non-torch memory, CUDA graphs, KV cache)
and the `--kv-cache-memory` that would fit the requested memory. A comparison that gives both
servers one budget reads that line and, when vLLM is over, restarts it with `--kv-cache-memory-bytes`
(`loadgen.compare.budget`).

The GiB figures are vLLM's own, rounded to 0.01 GiB; the suggested KV-cache size is exact bytes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

GIB = 2**30

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_PROFILED = re.compile(
    r"Desired GPU memory utilization is \(" + _NUMBER + r", " + _NUMBER + r" GiB\)\. "
    r"Actual usage is "
    + _NUMBER
    + r" GiB for weight, "
    + _NUMBER
    + r" GiB for peak activation, "
    + _NUMBER
    + r" GiB for non-torch memory, and "
    + _NUMBER
    + r" GiB for CUDAGraph memory\. "
    r"Replace gpu_memory_utilization config with `--kv-cache-memory=(-?[0-9]+)`.*?"
    r"Current kv cache memory in use is " + _NUMBER + r" GiB"
)
_FIXED_KV = re.compile(
    r"reserved " + _NUMBER + r" GiB memory for KV Cache as specified by kv_cache_memory_bytes config"
)
_WEIGHTS = re.compile(r"Model loading took " + _NUMBER + r" GiB")
_GRAPHS = re.compile(r"Graph capturing finished in [0-9.]+ secs, took " + _NUMBER + r" GiB")


@dataclass(frozen=True)
class ProfiledStart:
    """A start that sized its KV cache from `--gpu-memory-utilization`, as its log accounts for it."""

    utilization: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    """Peak activation during vLLM's profiling run."""
    non_torch_gib: float
    cuda_graphs_gib: float
    kv_cache_gib: float
    fit_kv_cache_bytes: int
    """The `--kv-cache-memory` vLLM suggests "to fit into requested memory" (150 MiB to spare)."""

    @property
    def total_gib(self) -> float:
        """Everything vLLM counted: weights, activation, non-torch, CUDA graphs and KV cache."""
        before_kv = self.weights_gib + self.activation_gib + self.non_torch_gib + self.cuda_graphs_gib
        return round(before_kv + self.kv_cache_gib, 2)

    @property
    def over_budget_gib(self) -> float:
        """How far the total is above the requested memory (0 or less: within it)."""
        return round(self.total_gib - self.requested_gib, 2)

    def to_dict(self) -> dict[str, Any]:
        """The fields and the two sums, for run.json."""
        return {**asdict(self), "total_gib": self.total_gib, "over_budget_gib": self.over_budget_gib}


@dataclass(frozen=True)
class FixedKvStart:
    """A start given `--kv-cache-memory-bytes`: vLLM skips profiling and logs only what it reserved."""

    weights_gib: float
    cuda_graphs_gib: float
    """0 when vLLM captured no graphs (eager) and so logged none."""
    kv_cache_gib: float

    def total_gib(self, profiled: ProfiledStart) -> float:
        """Weights, CUDA graphs and KV cache of this start, plus the activation and non-torch memory
        `profiled` (the same model's earlier start) measured: this start does not measure them."""
        measured = (self.weights_gib, self.cuda_graphs_gib, self.kv_cache_gib)
        return round(sum(measured) + profiled.activation_gib + profiled.non_torch_gib, 2)

    def to_dict(self) -> dict[str, Any]:
        """The fields, for run.json."""
        return asdict(self)


def profiled_start(log: str) -> ProfiledStart | None:
    """The memory account of a start sized by `--gpu-memory-utilization`; None when the log has no
    such line (a CPU server, a start that failed first, or a vLLM that words it differently)."""
    found = _PROFILED.search(log)
    if found is None:
        return None
    util, requested, weights, activation, non_torch, graphs, fit, kv = found.groups()
    return ProfiledStart(
        utilization=float(util),
        requested_gib=float(requested),
        weights_gib=float(weights),
        activation_gib=float(activation),
        non_torch_gib=float(non_torch),
        cuda_graphs_gib=float(graphs),
        kv_cache_gib=float(kv),
        fit_kv_cache_bytes=int(fit),
    )


def fixed_kv_start(log: str) -> FixedKvStart | None:
    """The memory of a start given `--kv-cache-memory-bytes`; None when the log does not show one."""
    kv = _FIXED_KV.search(log)
    weights = _WEIGHTS.search(log)
    if kv is None or weights is None:
        return None
    graphs = _GRAPHS.search(log)
    return FixedKvStart(
        weights_gib=float(weights.group(1)),
        cuda_graphs_gib=0.0 if graphs is None else float(graphs.group(1)),
        kv_cache_gib=float(kv.group(1)),
    )
