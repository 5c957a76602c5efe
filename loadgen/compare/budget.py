"""`loadgen compare --launch --gpu-memory-gib`: hold vLLM to the budget the HF server is capped at.

vLLM is given the budget as `--gpu-memory-utilization`, but vLLM 0.26's default (V2) model runner
does not profile its CUDA graphs, so they come on top (`servers.vllm.memory_account`). Once vLLM is
healthy, its log's memory account is read. When the total is above the memory vLLM requested (the
utilization times the memory torch sees: a little under the budget), vLLM is stopped and started
again with `--kv-cache-memory-bytes` set to the size its log suggests "to fit into requested memory".
Earlier starts' logs stay as `logs/vllm-start-K.log`; the accounts go into run.json.

The restart is paid once per configuration and machine: with a budget, vLLM runs with
`VLLM_ENABLE_STARTUP_PLAN=1`, which saves that same suggested size under its cache directory and
applies it at later starts of the same configuration, which then skip the profiling. Such a start
logs no full account, so the profiled start's is kept beside vLLM's plan (`servebench-memory/`, by
the plan's fingerprint) to account for the later ones. vLLM's fingerprint leaves the utilization
out, so a plan saved under another budget would be applied too: the kept account says which budget
it was for, and such a plan is removed and vLLM started again to profile this budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from loadgen.compare.launch import Launch, LaunchedServer
from loadgen.errors import ConfigError
from servers.vllm.launch import GIB
from servers.vllm.memory_account import ProfiledStart, fixed_kv_start, profiled_start

_SAVED_PLAN = re.compile(r"Saved startup plan to \S*startup_plan_([0-9a-f]+)\.json")
_APPLIED_PLAN = re.compile(r"Applying persisted startup plan \(fingerprint ([0-9a-f]+)\)")


class KvSizedLaunch(Launch, Protocol):
    """A vLLM launch that can be given its KV cache's size (`servers.vllm.launch.VllmLaunch`)."""

    @property
    def cache_dir(self) -> Path:
        """vLLM's cache directory (`VLLM_CACHE_ROOT`), where its start-up plans are saved."""
        ...

    @property
    def gpu_share(self) -> float | None:
        """The `--gpu-memory-utilization` it passes."""
        ...

    def with_kv_cache_memory(self, kv_cache_bytes: int) -> Launch:
        """The same launch with `--kv-cache-memory-bytes kv_cache_bytes`."""
        ...


@dataclass
class VllmBudget:
    """Checks the vLLM server against `budget_gib` once it is up and, with `over="restart"`, gives
    the launch to start it again with; keeps the accounts for run.json."""

    launch: KvSizedLaunch
    budget_gib: float
    over: Literal["restart", "keep"] = "restart"
    echo: Callable[[str], None] = lambda message: None
    profiled: ProfiledStart | None = None
    """The profiled start's account: one of this run's starts, or the one vLLM's saved plan came from."""
    profiled_load_time_s: float | None = None
    profiled_first_token_s: float | None = None
    sized_by: Literal["restart", "saved plan"] | None = None
    """How the serving start's KV cache was sized, when vLLM did not size it from the utilization."""
    kv_cache_memory_bytes: int | None = None

    def _accounts_dir(self) -> Path:
        return self.launch.cache_dir / "servebench-memory"

    def refit(self, server: LaunchedServer) -> Launch | None:
        """The launch to start `server` again with, or None to keep it: not vLLM, within its
        requested memory, sized by a plan saved for this budget, a start this check already sized,
        no account in its log, or over with `over="keep"`."""
        if server.name != "vllm":
            return None
        log = server.log_path.read_text(errors="replace")
        account = profiled_start(log)
        if account is not None:
            self.profiled, self.profiled_load_time_s = account, server.load_time_s
            self.profiled_first_token_s = server.first_token_s
            self._keep_for_later_starts(log, account)
            return self._fit(account)
        applied = _APPLIED_PLAN.search(log)
        if applied is not None:
            return self._check_saved_plan(applied.group(1))
        if self.sized_by is None:
            self.echo("vllm's log has no memory account: its use of the GPU budget is not checked")
        return None

    def _fit(self, account: ProfiledStart) -> Launch | None:
        if account.over_budget_gib <= 0:
            return None
        excess = (
            f"vllm holds {account.total_gib:.2f} GiB by its own account against the "
            f"{account.requested_gib:.2f} GiB it requested for the {self.budget_gib:g} GiB budget "
            f"(CUDA graphs {account.cuda_graphs_gib:.2f} GiB, KV cache {account.kv_cache_gib:.2f} GiB)"
        )
        if self.over == "keep":
            self.echo(f"{excess}; kept (--vllm-over-budget keep)")
            return None
        if account.fit_kv_cache_bytes <= 0:
            raise ConfigError(
                f"{excess}: weights, activations and CUDA graphs alone fill the budget; "
                "give both servers more (--gpu-memory-gib)"
            )
        self.sized_by, self.kv_cache_memory_bytes = "restart", account.fit_kv_cache_bytes
        self.echo(
            f"{excess}; restarting it with --kv-cache-memory-bytes {account.fit_kv_cache_bytes} "
            f"({account.fit_kv_cache_bytes / GIB:.2f} GiB, the size its log gives to fit)"
        )
        return self.launch.with_kv_cache_memory(account.fit_kv_cache_bytes)

    def _keep_for_later_starts(self, log: str, account: ProfiledStart) -> None:
        saved = _SAVED_PLAN.search(log)
        if saved is not None:
            folder = self._accounts_dir()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{saved.group(1)}.json").write_bytes(orjson.dumps(account.to_dict()))

    def _check_saved_plan(self, fingerprint: str) -> Launch | None:
        try:
            fields = orjson.loads((self._accounts_dir() / f"{fingerprint}.json").read_bytes())
            known = ProfiledStart.__dataclass_fields__
            kept = ProfiledStart(**{k: v for k, v in fields.items() if k in known})
        except (OSError, orjson.JSONDecodeError, TypeError):
            self.sized_by = "saved plan"
            self.echo("vllm applied a saved start-up plan whose profiled account is not kept here")
            return None
        share = self.launch.gpu_share
        if share is None or abs(kept.utilization - share) < 1e-6:
            self.sized_by, self.profiled = "saved plan", kept
            return None
        plan = self.launch.cache_dir / "startup_plan" / f"startup_plan_{fingerprint}.json"
        plan.unlink(missing_ok=True)
        self.echo(
            f"vllm applied a start-up plan saved for --gpu-memory-utilization {kept.utilization} (this "
            f"run's is {share}); removed it, restarting vllm to size its KV cache for this budget"
        )
        return self.launch

    def record(self, server: LaunchedServer) -> dict[str, Any] | None:
        """run.json's `gpu_memory` for the vLLM server that serves: the budget, the profiled start's
        account and, when the serving start's KV cache was sized for it, what that start reserved and
        its total (its activation and non-torch memory are the profiled start's: it measures none)."""
        if self.profiled is None and self.sized_by is None:
            return None
        entry: dict[str, Any] = {
            "budget_gib": self.budget_gib,
            "profiled_start": None
            if self.profiled is None
            else {
                **self.profiled.to_dict(),
                "load_time_s": self.profiled_load_time_s,
                "first_token_s": self.profiled_first_token_s,
            },
            "sized_by": self.sized_by,
            "total_gib": None if self.profiled is None else self.profiled.total_gib,
        }
        if self.sized_by is None:
            return entry
        serving = fixed_kv_start(server.log_path.read_text(errors="replace"))
        entry["kv_cache_memory_bytes"] = self.kv_cache_memory_bytes
        entry["serving_start"] = None if serving is None else serving.to_dict()
        if serving is not None and self.profiled is not None:
            entry["total_gib"] = serving.total_gib(self.profiled)
        else:
            entry["total_gib"] = None
        return entry
