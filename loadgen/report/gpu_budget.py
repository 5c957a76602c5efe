"""The report's account of vLLM's GPU memory against the budget both servers were given
(`loadgen compare --gpu-memory-gib`; `loadgen.compare.budget` wrote it into run.json)."""

from __future__ import annotations

from typing import Any

from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Callout, Table

_PARTS = ("weights_gib", "activation_gib", "non_torch_gib", "cuda_graphs_gib", "kv_cache_gib")


def gib_cell(value: Any) -> str:
    """A GiB figure for a table cell: two decimals, `-` when unknown."""
    return "-" if not isinstance(value, int | float) else f"{value:.2f}"


def launch_gpu_memory(server: dict[str, Any]) -> dict[str, Any] | None:
    """The GPU memory account run.json keeps for a launched server (vLLM's), if it has one."""
    memory = (server.get("launch") or {}).get("gpu_memory")
    return memory if isinstance(memory, dict) else None


def _seconds(value: Any) -> str:
    return "an unknown time" if not isinstance(value, int | float) else f"{value:.1f} s"


def _accounts(data: ReportData) -> list[tuple[str, dict[str, Any]]]:
    """(server label, gpu_memory entry) for every launched server that has one."""
    found = []
    for run in data.runs:
        for server in run.meta.get("servers") or []:
            memory = launch_gpu_memory(server)
            if memory is not None:
                found.append((data.server_label(run, server.get("name", "?")), memory))
    return found


def gpu_budget_blocks(data: ReportData) -> list[Block]:
    """A table of each account (the profiled start and, when sized for the budget, the serving one) and a
    sentence on whether vLLM kept the budget."""
    accounts = _accounts(data)
    if not accounts:
        return []
    rows, notes = [], []
    for name, memory in accounts:
        profiled, budget = memory.get("profiled_start") or {}, memory.get("budget_gib")
        label = "profiled start" if memory.get("sized_by") != "saved plan" else "the start its plan came from"
        starts = [(f"{name}, {label}", profiled, profiled.get("total_gib"))] if profiled else []
        if memory.get("sized_by") is not None:
            # the serving start skips profiling: its activation and non-torch memory are the profiled one's
            measured = {**profiled, **(memory.get("serving_start") or {})}
            starts.append((f"{name}, serving", measured, memory.get("total_gib")))
        for row_label, parts, total in starts:
            rows.append(
                [row_label, gib_cell(budget), *(gib_cell(parts.get(k)) for k in _PARTS), gib_cell(total)]
            )
        notes.append(_note(name, memory))
    table = Table(
        [
            "server start",
            "budget (GiB)",
            "weights",
            "peak activation",
            "non-torch",
            "CUDA graphs",
            "KV cache",
            "total (GiB)",
        ],
        rows,
        caption="vLLM's GPU memory by its own start-up log, in GiB. vLLM 0.26's default model runner "
        "leaves its CUDA graphs out of --gpu-memory-utilization, so they can take it over the budget "
        "the HF server is capped at; a restart with --kv-cache-memory-bytes then brings it back.",
    )
    return [table, *notes]


def _note(name: str, memory: dict[str, Any]) -> Callout:
    budget, total, sized_by = memory.get("budget_gib"), memory.get("total_gib"), memory.get("sized_by")
    profiled = memory.get("profiled_start") or {}
    if not isinstance(budget, int | float):
        return Callout("warn", f"{name}'s GPU memory account has no budget")
    if not isinstance(total, int | float):
        return Callout("warn", f"{name} was sized for the budget ({sized_by}); its total is unknown")
    within = total <= budget
    if sized_by == "restart":
        kv = memory.get("kv_cache_memory_bytes")
        kv_gib = gib_cell(kv / 2**30 if isinstance(kv, int) else None)
        profiled_total, profiled_load = profiled.get("total_gib"), profiled.get("load_time_s")
        return Callout(
            "ok" if within else "warn",
            f"{name} was restarted with a KV cache of {kv_gib} GiB: its profiled start held "
            f"{gib_cell(profiled_total)} GiB against the {budget:g} GiB budget; the serving start holds "
            f"{total:.2f} GiB. The load time above is the serving start's (compile caches warm); the "
            f"profiled start took {_seconds(profiled_load)}.",
        )
    if sized_by == "saved plan":
        return Callout(
            "ok" if within else "warn",
            f"{name} applied the start-up plan an earlier start saved (a KV cache that fits the budget): "
            f"it holds {total:.2f} GiB against the {budget:g} GiB budget.",
        )
    if not within:
        return Callout(
            "warn",
            f"{name} held {total:.2f} GiB against the {budget:g} GiB budget the HF server is capped at "
            "(kept: --vllm-over-budget keep): the servers did not have the same memory.",
        )
    return Callout("ok", f"{name} held {total:.2f} GiB, within the {budget:g} GiB budget.")
