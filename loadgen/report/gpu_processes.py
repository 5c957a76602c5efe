"""The report's account of each server's GPU memory by the GPU's own count (nvidia-smi per process,
`loadgen.gpu_processes`), beside the budget both servers were given and vLLM's own account."""

from __future__ import annotations

from typing import Any

from loadgen.report.data import ReportData, RunData
from loadgen.report.doc import Block, Callout, Table
from loadgen.report.gpu_budget import gib_cell, launch_gpu_memory

MIB_PER_GIB = 1024
OVER_BUDGET_TOLERANCE_GIB = 0.5
"""A peak more than this over the budget is memory the server held beyond what it was given. Each
process's CUDA context, outside both servers' own counts, is a few hundred MiB, so less says little.
A peak under the budget is no finding: the HF server allocates as its batches need (a small model
may peak at half its cap), while vLLM takes its whole budget at start."""


def _budget(run: RunData) -> float | None:
    """The budget both servers were given (`--gpu-memory-gib`), as vLLM's account recorded it."""
    for server in run.meta.get("servers") or []:
        budget = (launch_gpu_memory(server) or {}).get("budget_gib")
        if isinstance(budget, int | float):
            return float(budget)
    return None


def _own_account(run: RunData, name: str) -> Any:
    """The server's total by its own account (vLLM's start-up log), if run.json has one."""
    server: dict[str, Any] = next((s for s in run.meta.get("servers") or [] if s.get("name") == name), {})
    return (launch_gpu_memory(server) or {}).get("total_gib")


def _run_blocks(
    data: ReportData, run: RunData, entry: dict[str, Any]
) -> tuple[list[list[str]], list[Callout]]:
    budget = _budget(run)
    servers: dict[str, dict[str, Any]] = entry.get("servers") or {}
    rows, notes = [], []
    peaks: dict[str, float] = {}
    own_accounts: dict[str, Any] = {}
    for name, server in servers.items():
        label = data.server_label(run, name)
        own_accounts[label] = _own_account(run, name)
        peak = server.get("peak_mib")
        if isinstance(peak, int | float):
            peaks[label] = peak / MIB_PER_GIB
        rows.append(
            [
                label,
                gib_cell(peaks.get(label)),
                gib_cell(own_accounts[label]),
                gib_cell(budget),
                str(server.get("samples", 0)),
            ]
        )
        if server.get("pid") is None:
            notes.append(
                Callout("warn", f"{label}: its process was not found here; the GPU's count is unknown.")
            )
        elif not server.get("samples") and entry.get("queries", 0) > entry.get("failed_queries", 0):
            others = len(entry.get("other_pids") or [])
            notes.append(
                Callout(
                    "warn",
                    f"{label}: nvidia-smi listed no process of its tree ({others} other process(es) on "
                    "the GPU). A server in a container with its own PID namespace is not found by its pid.",
                )
            )
    if entry.get("queries") and entry.get("failed_queries") == entry.get("queries"):
        notes.append(Callout("warn", f"nvidia-smi {entry.get('source', '')} failed on every query."))
    if budget is not None and peaks:
        over = {label: gib for label, gib in peaks.items() if gib - budget > OVER_BUDGET_TOLERANCE_GIB}
        for label, gib in over.items():
            own = own_accounts.get(label)
            outside = (
                f"{gib - own:.2f} GiB of it outside its own account of {own:.2f} GiB"
                if isinstance(own, int | float)
                else "memory outside its own count"
            )
            notes.append(
                Callout(
                    "warn",
                    f"By the GPU's count, {label} held {gib:.2f} GiB at its peak, {gib - budget:.2f} GiB "
                    f"over the {budget:g} GiB budget both servers were given: {outside} (CUDA context, "
                    "library workspaces, allocations outside PyTorch's cache). Figures that depend on "
                    "memory, such as how many requests a server holds at once, carry that excess.",
                )
            )
        if not over:
            notes.append(
                Callout(
                    "ok",
                    f"By the GPU's count every server's peak stayed within {OVER_BUDGET_TOLERANCE_GIB:g} "
                    f"GiB of the {budget:g} GiB budget "
                    f"({', '.join(f'{k} {v:.2f}' for k, v in peaks.items())} GiB).",
                )
            )
    return rows, notes


def gpu_process_blocks(data: ReportData) -> list[Block]:
    """A table of each server's peak GPU memory by nvidia-smi's per-process count, and whether each
    server kept the budget by it; nothing for runs without the record (no GPU, or older runs)."""
    rows: list[list[str]] = []
    notes: list[Block] = []
    for run in data.runs:
        entry = run.meta.get("gpu_process_memory")
        if isinstance(entry, dict):
            run_rows, run_notes = _run_blocks(data, run, entry)
            rows += run_rows
            notes += run_notes
    if not rows:
        return []
    table = Table(
        ["server", "peak, the GPU's count (GiB)", "its own account (GiB)", "budget (GiB)", "samples"],
        rows,
        caption="Each server's GPU memory as the GPU counts it: nvidia-smi's per-process used memory, summed "
        "over the server's process tree, once a second through the run; its own account is vLLM's "
        "start-up log (the HF server's PyTorch is capped at the budget).",
    )
    return [table, *notes]
