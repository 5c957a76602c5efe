"""vLLM held to the GPU memory budget the HF server is capped at (`--gpu-memory-gib`).

The accounts are read from the vLLM logs of this project's own GPU runs (docs/results): every start
vLLM sized itself shows the CUDA graphs outside the utilization, and every start given the KV size
its log suggested (session 12 on) kept the budget. The restart runs for real, with processes
standing in for vLLM: the first prints write-up 3's real start-up log, the others the lines vLLM 0.26
logs when given `--kv-cache-memory-bytes` or a saved start-up plan (the format strings of
`vllm/v1/worker/gpu_worker.py`, `startup_plan.py` and `gpu/model_runner.py`), each then serving as
the scripted server does.
"""

from __future__ import annotations

import functools
import gzip
import json
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from benchmarks.claims import load_time
from loadgen.compare.budget import VllmBudget
from loadgen.compare.launch import Launch, LaunchedServer, launched
from loadgen.errors import ConfigError
from loadgen.launcher import free_port
from loadgen.report.build import write_report
from servers.vllm.launch import GIB, ServeSettings, VllmLaunch
from servers.vllm.memory_account import ProfiledStart, fixed_kv_start, profiled_start
from tests.fixtures.procs import REPO_ROOT, ServerProcess

RESULTS = REPO_ROOT / "docs" / "results"
QWEN_RUN = RESULTS / "2026-12-06g-seeds-qwen-24g" / "seeds-qwen-24g"
QWEN_LOG = QWEN_RUN / "logs" / "vllm.log"
MIB = 2**20


@functools.cache
def read_log(path: Path) -> str:
    """A committed log's text (`.gz` decompressed), read once: several tests and helpers walk the
    same logs."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode(errors="replace")


def gpu_logs() -> list[Path]:
    return sorted(p for p in RESULTS.rglob("*.log*") if p.name.startswith("vllm"))


def qwen_account() -> ProfiledStart:
    account = profiled_start(read_log(QWEN_LOG))
    assert account is not None
    return account


def profiled_logs() -> list[Path]:
    """The logs of starts vLLM sized itself (every run before session 12, and each restart's first start)."""
    return [path for path in gpu_logs() if fixed_kv_start(read_log(path)) is None]


def test_every_profiled_gpu_start_logged_an_account_whose_graphs_came_on_top() -> None:
    logs = profiled_logs()
    assert len(logs) >= 20
    for path in logs:
        account = profiled_start(read_log(path))
        assert account is not None, path
        before_kv = account.weights_gib + account.activation_gib + account.non_torch_gib
        # The KV cache took all the requested memory left after weights, activation and non-torch:
        # nothing was set aside for the CUDA graphs, which vLLM captured after.
        assert account.kv_cache_gib == pytest.approx(account.requested_gib - before_kv, abs=0.03), path
        assert account.cuda_graphs_gib > 0 and account.over_budget_gib > 0, path
        # vLLM's own fit: the requested memory less everything but the KV cache, less 150 MiB.
        fit = account.requested_gib - before_kv - account.cuda_graphs_gib - 150 * MIB / GIB
        assert account.fit_kv_cache_bytes / GIB == pytest.approx(fit, abs=0.03), path


def test_every_gpu_start_given_a_kv_size_held_the_budget_by_its_own_account() -> None:
    # Since session 12 a compare with a budget restarts vLLM with the KV size its first start's log
    # gives to fit (or applies the plan an earlier start saved): the serving start's weights, graphs
    # and KV cache, with the activation and non-torch memory its first start measured, stay inside
    # what that start requested.
    accounts = [a for a in (profiled_start(read_log(p)) for p in profiled_logs()) if a is not None]
    starts = [(p, start) for p in gpu_logs() if (start := fixed_kv_start(read_log(p))) is not None]
    assert len(starts) >= 5
    for path, start in starts:
        sized_by = [
            a for a in accounts if a.fit_kv_cache_bytes / GIB == pytest.approx(start.kv_cache_gib, abs=0.005)
        ]
        assert sized_by, f"{path}: no profiled start suggested a KV cache of {start.kv_cache_gib} GiB"
        profiled = sized_by[0]
        assert start.weights_gib == profiled.weights_gib and start.cuda_graphs_gib == profiled.cuda_graphs_gib
        assert profiled.over_budget_gib > 0 and start.total_gib(profiled) <= profiled.requested_gib, path


def test_write_up_3s_start_held_more_than_it_was_asked() -> None:
    account = qwen_account()
    assert (account.utilization, account.requested_gib) == (0.3013, 23.86)
    assert (account.weights_gib, account.cuda_graphs_gib, account.kv_cache_gib) == (14.29, 0.89, 8.22)
    assert account.total_gib == 24.75 and account.over_budget_gib == 0.89
    assert account.fit_kv_cache_bytes == 7713700521


def test_a_cpu_vllm_logs_no_account(vllm_server: ServerProcess) -> None:
    log = vllm_server.log_path.read_text(errors="replace")
    assert "Application startup complete" in log or "Starting vLLM" in log, log[-2000:]
    assert profiled_start(log) is None and fixed_kv_start(log) is None


def test_the_kv_cache_size_reaches_vllms_command_line_on_a_gpu_only(tmp_path: Path) -> None:
    on_gpu = VllmLaunch(ServeSettings(tmp_path, device="cuda"), gpu_memory_gib=24, gpu_total_bytes=80 * GIB)
    sized = on_gpu.with_kv_cache_memory(7_713_700_521).argv(vllm="vllm")
    assert sized[sized.index("--kv-cache-memory-bytes") + 1] == "7713700521"
    assert sized[sized.index("--gpu-memory-utilization") + 1] == "0.3"  # still checked against free memory
    assert "--kv-cache-memory-bytes" not in on_gpu.argv(vllm="vllm")
    assert on_gpu.env()["VLLM_ENABLE_STARTUP_PLAN"] == "1"  # a budget: the fitting size is kept
    on_cpu = VllmLaunch(ServeSettings(tmp_path), kv_cache_memory_bytes=1 * GIB)
    assert "--kv-cache-memory-bytes" not in on_cpu.argv(vllm="vllm")
    assert "VLLM_ENABLE_STARTUP_PLAN" not in on_cpu.env()
    without_budget = VllmLaunch(ServeSettings(tmp_path, device="cuda"), gpu_memory_utilization=0.5)
    assert "VLLM_ENABLE_STARTUP_PLAN" not in without_budget.env()
    keeping = VllmLaunch(ServeSettings(tmp_path, device="cuda"), gpu_memory_gib=24, startup_plan=False)
    assert "VLLM_ENABLE_STARTUP_PLAN" not in keeping.env()  # --vllm-over-budget keep: sized as before
    with pytest.raises(ValueError, match="above 0 bytes"):
        VllmLaunch(ServeSettings(tmp_path, device="cuda"), kv_cache_memory_bytes=0)


def started(log: Path, load_time_s: float = 41.0) -> LaunchedServer:
    """What `VllmBudget.refit` reads of a started vLLM: its name, log, load time and first token."""
    first_token_s = load_time_s + 0.3
    server = SimpleNamespace(name="vllm", log_path=log, load_time_s=load_time_s, first_token_s=first_token_s)
    return cast(LaunchedServer, server)


def unused_launch(cache_dir: Path = Path("/nowhere")) -> VllmLaunch:
    settings = ServeSettings(Path("/nowhere"), device="cuda")
    return VllmLaunch(settings, gpu_memory_gib=24, gpu_total_bytes=80 * GIB, cache_dir=cache_dir)


def test_within_what_it_requested_vllm_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "vllm.log"
    # the same start had its CUDA graphs been counted: 0.89 GiB less KV cache
    log.write_text(read_log(QWEN_LOG).replace("memory in use is 8.22 GiB", "memory in use is 7.33 GiB"))
    said: list[str] = []
    budget = VllmBudget(unused_launch(), 24.0, echo=said.append)
    assert budget.refit(started(log)) is None
    assert said == [] and budget.kv_cache_memory_bytes is None and budget.sized_by is None
    record = budget.record(started(log))
    assert record is not None and record["sized_by"] is None and record["total_gib"] == 23.86


def test_over_its_budget_vllm_is_kept_when_asked_and_the_excess_is_said() -> None:
    said: list[str] = []
    budget = VllmBudget(unused_launch(), 24.0, over="keep", echo=said.append)
    assert budget.refit(started(QWEN_LOG)) is None
    assert len(said) == 1 and "24.75 GiB by its own account against the 23.86 GiB it requested" in said[0]
    assert said[0].endswith("kept (--vllm-over-budget keep)")


def test_a_budget_the_model_alone_fills_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "vllm.log"
    log.write_text(read_log(QWEN_LOG).replace("--kv-cache-memory=7713700521", "--kv-cache-memory=-29360128"))
    budget = VllmBudget(unused_launch(), 16.0)
    with pytest.raises(ConfigError, match=r"CUDA graphs alone fill the budget; give both servers more"):
        budget.refit(started(log))


def test_a_log_without_an_account_is_said_and_kept(tmp_path: Path) -> None:
    log = tmp_path / "vllm.log"
    log.write_text("INFO Starting vLLM API server on http://127.0.0.1:8000\n")
    said: list[str] = []
    budget = VllmBudget(unused_launch(), 24.0, echo=said.append)
    assert budget.refit(started(log)) is None and budget.record(started(log)) is None
    assert said == ["vllm's log has no memory account: its use of the GPU budget is not checked"]


# ---- the restarts, with real processes -------------------------------------------------------------

FINGERPRINT = "3f2a9c0d1e4b5a67"


def profiled_log(utilization: float, requested_gib: float) -> str:
    """Write-up 3's real start-up log, as the same start would have logged it under another budget:
    the same weights, activation, non-torch memory and graphs, the KV cache taking the rest of the
    requested memory, and vLLM's suggestion (150 MiB spare) to match."""
    kv = round(requested_gib - 14.29 - 1.13 - 0.22, 2)
    fit = int((requested_gib - 14.29 - 1.13 - 0.22 - 0.89) * GIB) - 150 * MIB
    return (
        read_log(QWEN_LOG)
        .replace("(0.3013, 23.86 GiB)", f"({utilization}, {requested_gib} GiB)")
        .replace(
            "--kv-cache-memory=7713700521` (7.18 GiB)", f"--kv-cache-memory={fit}` ({fit / GIB:.2f} GiB)"
        )
        .replace("memory in use is 8.22 GiB", f"memory in use is {kv} GiB")
    )


def fixed_kv_log(kv_cache_bytes: int, plan: bool = False) -> str:
    """vLLM 0.26's start-up lines with `--kv-cache-memory-bytes`, or with a saved plan applied (its
    f-strings, write-up 3's sizes)."""
    applied = (
        f"(EngineCore pid=1) INFO [startup_plan.py:153] Applying persisted startup plan (fingerprint "
        f"{FINGERPRINT}): kv_cache_memory_bytes={kv_cache_bytes} ({kv_cache_bytes / GIB:.2f} GiB), "
        "recorded free-memory baseline 78.66 GiB, current 78.66 GiB. Memory profiling will be skipped.\n"
    )
    return (
        "(EngineCore pid=1) INFO [model_runner.py:305] Model loading took 14.29 GiB and 3.527389 seconds\n"
        + (applied if plan else "")
        + "(EngineCore pid=1) INFO [gpu_worker.py:484] Initial free memory 78.66 GiB, reserved "
        f"{round(kv_cache_bytes / GIB, 2)} GiB memory for KV Cache as specified by kv_cache_memory_bytes "
        "config and skipped memory profiling. This does not respect the gpu_memory_utilization config.\n"
        "(EngineCore pid=1) INFO [model_runner.py:747] Graph capturing finished in 4 secs, took 0.89 GiB\n"
    )


@dataclass
class ScriptedVllm:
    """Stands in for vLLM 0.26 with VLLM_ENABLE_STARTUP_PLAN=1, down to its plan file: given a KV
    cache size it logs that; else it applies a saved plan when there is one (whatever the budget, as
    vLLM's fingerprint leaves the utilization out); else it logs `profiled` and saves the plan. Then
    it serves as the scripted server (`servers.sim`)."""

    profiled: str
    folder: Path
    cache_dir: Path
    gpu_share: float | None = 0.3013
    kv_cache_bytes: int | None = None
    port: int = field(default_factory=free_port)

    @property
    def plan(self) -> Path:
        return self.cache_dir / "startup_plan" / f"startup_plan_{FINGERPRINT}.json"

    def argv(self) -> list[str]:
        if self.kv_cache_bytes is not None:
            text = fixed_kv_log(self.kv_cache_bytes)
        elif self.plan.is_file():
            text = fixed_kv_log(json.loads(self.plan.read_text())["kv_cache_memory_bytes"], plan=True)
        else:
            account = profiled_start(self.profiled)
            assert account is not None
            self.plan.parent.mkdir(parents=True, exist_ok=True)
            self.plan.write_text(json.dumps({"kv_cache_memory_bytes": account.fit_kv_cache_bytes}))
            text = f"{self.profiled}Saved startup plan to {self.plan}\n"
        script = self.folder / f"start-{self.port}.log"
        script.write_text(text)
        serve = "import runpy, sys; sys.stdout.write(open(sys.argv[1]).read()); sys.stdout.flush(); "
        serve += "sys.argv = ['sim', '--port', sys.argv[2]]; "
        serve += "runpy.run_module('servers.sim', run_name='__main__')"
        return [sys.executable, "-c", serve, str(script), str(self.port)]

    def env(self) -> dict[str, str]:
        return {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def with_kv_cache_memory(self, kv_cache_bytes: int) -> Launch:
        return replace(self, kv_cache_bytes=kv_cache_bytes, port=free_port())


def compare_start(launch: ScriptedVllm, logs: Path, budget_gib: float = 24.0) -> CompareStart:
    """What `loadgen compare` does with vLLM under a budget: start, check, restart as told."""
    said: list[str] = []
    budget = VllmBudget(launch, budget_gib, echo=said.append)
    urls: list[str] = []
    with launched(
        [("vllm", launch)], logs, timeout_s=60, on_ready=lambda s: urls.append(s.base_url), refit=budget.refit
    ) as (vllm,):
        assert httpx.get(vllm.base_url + "/health").status_code == 200
        for stopped in urls[:-1]:
            with pytest.raises(httpx.ConnectError):
                httpx.get(stopped + "/health")
        record = budget.record(vllm)
    return CompareStart(len(urls), said, record)


@dataclass
class CompareStart:
    starts: int
    said: list[str]
    record: dict[str, Any] | None


def folders(tmp_path: Path, *names: str) -> list[Path]:
    made = [tmp_path / name for name in names]
    for folder in made:
        folder.mkdir()
    return made


def test_over_budget_vllm_is_restarted_to_fit_and_later_starts_fit_at_once(tmp_path: Path) -> None:
    scripts, cache, run1, run2 = folders(tmp_path, "scripts", "cache", "run1", "run2")
    first = compare_start(ScriptedVllm(read_log(QWEN_LOG), scripts, cache), run1)
    assert first.starts == 2
    assert "restarting it with --kv-cache-memory-bytes 7713700521 (7.18 GiB" in first.said[0]
    assert "Current kv cache memory in use is 8.22 GiB" in (run1 / "vllm-start-1.log").read_text()
    assert "as specified by kv_cache_memory_bytes" in (run1 / "vllm.log").read_text()
    record = first.record
    assert record is not None and record["sized_by"] == "restart"
    assert record["kv_cache_memory_bytes"] == 7713700521  # the size vLLM's log gives to fit
    assert record["serving_start"] == {"weights_gib": 14.29, "cuda_graphs_gib": 0.89, "kv_cache_gib": 7.18}
    assert record["profiled_start"]["load_time_s"] > 0 and record["profiled_start"]["total_gib"] == 24.75
    # weights, graphs and the new KV cache, with the profiled start's activation and non-torch memory
    assert record["total_gib"] == round(14.29 + 0.89 + 7.18 + 1.13 + 0.22, 2) <= 23.86

    # The next comparison of this configuration: vLLM applies the plan its first start saved and
    # fits at once; the account kept beside the plan gives this start's total.
    second = compare_start(ScriptedVllm(read_log(QWEN_LOG), scripts, cache), run2)
    assert second.starts == 1 and second.said == []
    assert second.record is not None and second.record["sized_by"] == "saved plan"
    assert second.record["profiled_start"]["total_gib"] == 24.75
    assert second.record["total_gib"] == record["total_gib"]


def test_a_plan_saved_under_another_budget_is_removed_and_this_budget_profiled(tmp_path: Path) -> None:
    scripts, cache, run1, run2 = folders(tmp_path, "scripts", "cache", "run1", "run2")
    compare_start(ScriptedVllm(read_log(QWEN_LOG), scripts, cache), run1)  # 24 GiB: saves its plan
    at_40 = ScriptedVllm(profiled_log(0.5022, 39.77), scripts, cache, gpu_share=0.5022)
    done = compare_start(at_40, run2, budget_gib=40.0)
    # start 1 applied the 24 GiB plan; start 2 profiled 40 GiB (over: its graphs); start 3 fits
    assert done.starts == 3
    assert "saved for --gpu-memory-utilization 0.3013 (this run's is 0.5022)" in done.said[0]
    assert "applying persisted startup plan" in (run2 / "vllm-start-1.log").read_text().lower()
    assert "(0.5022, 39.77 GiB)" in (run2 / "vllm-start-2.log").read_text()
    fit = json.loads(at_40.plan.read_text())["kv_cache_memory_bytes"]
    assert fit == int((39.77 - 16.53) * GIB) - 150 * MIB  # the new plan is this budget's
    record = done.record
    assert record is not None and record["sized_by"] == "restart" and record["kv_cache_memory_bytes"] == fit
    assert record["profiled_start"]["utilization"] == 0.5022
    assert record["total_gib"] == round(16.53 + fit / GIB, 2) <= 39.77


def test_a_saved_plan_without_its_profiled_account_is_said(tmp_path: Path) -> None:
    log = tmp_path / "vllm.log"
    log.write_text(fixed_kv_log(7713700521, plan=True))
    said: list[str] = []
    budget = VllmBudget(unused_launch(tmp_path / "cache"), 24.0, echo=said.append)
    assert budget.refit(started(log)) is None
    assert said == ["vllm applied a saved start-up plan whose profiled account is not kept here"]
    record = budget.record(started(log))
    assert record is not None and record["sized_by"] == "saved plan" and record["total_gib"] is None
    assert record["serving_start"]["kv_cache_gib"] == 7.18


def test_the_report_shows_both_starts_and_says_the_budget_was_kept(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(QWEN_RUN, run, ignore=shutil.ignore_patterns("*.md", "logs"))
    budget = VllmBudget(unused_launch(), 24.0)
    budget.refit(started(QWEN_LOG, load_time_s=72.4))
    serving = tmp_path / "serving.log"
    serving.write_text(fixed_kv_log(7713700521))
    meta = json.loads((run / "run.json").read_text())
    meta["servers"][0]["launch"]["gpu_memory"] = budget.record(started(serving))
    (run / "run.json").write_text(json.dumps(meta))
    text = write_report([run], plots=False).markdown.read_text()
    section = text.split("## Fixed batches, load time and memory")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| vllm,")]
    assert len(rows) == 2
    assert "profiled start" in rows[0] and "| 24.75 |" in rows[0] and "| 8.22 |" in rows[0]
    assert "serving" in rows[1] and "| 7.18 |" in rows[1] and "| 23.71 |" in rows[1]
    assert "vllm was restarted with a KV cache of 7.18 GiB" in section
    assert "the profiled start took 72.4 s" in section
    # the start-up table gives both starts' times: the cold one a deployment waits for, and the warm one
    startup = [line for line in section.splitlines() if line.startswith("| vllm (")]
    assert len(startup) == 2
    assert "profiled start, before its restart" in startup[0] and "| 72.4 | 72.7 |" in startup[0]
    assert "serving start, compile caches warm" in startup[1] and "| 98.1 |" in startup[1]


def test_a_restarted_vllms_load_time_is_its_profiled_starts(tmp_path: Path) -> None:
    budget = VllmBudget(unused_launch(), 24.0)
    budget.refit(started(QWEN_LOG, load_time_s=98.1))
    serving = tmp_path / "serving.log"
    serving.write_text(fixed_kv_log(7713700521))
    launch = {"load_time_s": 51.2, "first_token_s": 51.5, "gpu_memory": budget.record(started(serving))}
    (tmp_path / "run.json").write_text(json.dumps({"servers": [{"name": "vllm", "launch": launch}]}))
    healthy = load_time(tmp_path, "vllm")
    assert healthy.value == 98.1  # cold, as a deployment starts: not the warm restart's 51.2
    assert healthy.notes == [
        "first token after 98.4 s",
        "the start before its restart to fit the 24.0 GiB budget; the serving start, warm, took 51.2 s",
    ]
    assert load_time(tmp_path, "vllm", "first_token_s").value == pytest.approx(98.4)
    launch.pop("gpu_memory")  # no restart: the one start's times
    (tmp_path / "run.json").write_text(json.dumps({"servers": [{"name": "vllm", "launch": launch}]}))
    assert load_time(tmp_path, "vllm").value == 51.2
