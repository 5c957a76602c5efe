"""One comparison from start to finish: probe, parity probe, interleaved sweep, offline batches, gates.

Files written to the run directory (besides the report):
- `run.json`: kind `compare`, targets and what each reported about itself, the plan, the workload,
  the machine, launch details (command, load time, idle memory) and the parity verdict;
- `requests.jsonl` and `summary-NN-<target>-<level>.json`: the sweep (as `loadgen run` writes them);
- `parity.jsonl`, `parity.json`: the greedy probe's records and every gate's verdict;
- `offline.jsonl`, `offline.json`: the fixed batches' records and results;
- `capacity.jsonl`, `capacity.json`: with `--capacity-search`, each probe's records and each search.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from loadgen.client.tokens import TokenCounter
from loadgen.compare.capacity import CapacityResult, ProbeResult
from loadgen.compare.capacity_probe import CapacitySettings, capacity_file, find_capacities
from loadgen.compare.capacity_saved import CAPACITY_FILE, CAPACITY_RECORDS
from loadgen.compare.launch import LaunchedServer
from loadgen.compare.levels import SweepLevel
from loadgen.compare.memory import listening_pid, tree_rss_bytes
from loadgen.compare.offline import BatchResult, run_batches
from loadgen.compare.parity import (
    ParityReport,
    Tokens,
    output_length_gate,
    probe_prompts,
    token_agreement_gate,
    usage_gate,
)
from loadgen.compare.plan import ComparePlan, choose_baseline, request_summary
from loadgen.compare.server_batches import BatchCollector
from loadgen.compare.sweep import RelabelSink, interleaved_sweep
from loadgen.compare.targets import ServerInfo
from loadgen.gpu_monitor import DEFAULT_INTERVAL_MS, GPU_STATE_FILE, GpuMonitor, GpuMonitorError, gpu_note
from loadgen.gpu_processes import GPU_PROCESSES_FILE, GpuProcessMemory
from loadgen.progress import Progress
from loadgen.record import RequestRecord
from loadgen.results import JsonlSink, MemorySink, RunWriter
from loadgen.run_config import LoadSpec, RequestOptions, Target
from loadgen.runner import LevelResult, new_event_loop, run_level
from loadgen.server_metrics import ServerMetricsRecorder
from loadgen.stats import SLO
from loadgen.workloads.base import Prompt

PARITY_FILE = "parity.json"
OFFLINE_FILE = "offline.json"
EXIT_PARITY_FAILED = 3
FIRST_SAMPLE_TIMEOUT_S = 10.0
"""How long the GPU monitor may take to start before the first level (it keeps trying after)."""


@dataclass
class CompareInputs:
    """What a comparison runs: the servers, the prompts, the request options and the plan."""

    infos: list[ServerInfo]
    targets: list[Target]
    prompts: list[Prompt]
    workload: dict[str, Any]
    request: RequestOptions
    plan: ComparePlan
    slo: SLO | None = None
    percentiles: tuple[float, ...] = (50, 90, 95, 99)
    tokenizer: str | None = None
    launched: list[LaunchedServer] = field(default_factory=list)
    command: Sequence[str] = ()
    warnings: list[str] = field(default_factory=list)
    server_metrics_interval_s: float = 1.0
    """Seconds between scrapes of each target's `/metrics` during the sweep (0: off)."""
    gpu_monitor: bool = False
    """Sample the GPUs with nvidia-smi during the sweep and the fixed batches (`loadgen.gpu_monitor`)."""
    gpu_monitor_interval_ms: int = DEFAULT_INTERVAL_MS
    levels: list[SweepLevel] | None = None
    """The sweep's levels with prompts of their own (variance sweep, the demo's realistic level);
    None: the plan's loads, all sending `prompts`."""

    def sweep_levels(self) -> list[SweepLevel]:
        """The levels the sweep runs, in order."""
        if self.levels is not None:
            return self.levels
        return [SweepLevel(load, self.prompts) for load in self.plan.loads()]


@dataclass
class CompareOutcome:
    """What came of a comparison."""

    run_dir: Path
    parity: ParityReport
    summaries: list[dict[str, Any]]
    offline: list[BatchResult]
    stopped_at_parity: bool
    capacity: list[CapacityResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every gate passed, 3 when a parity gate failed."""
        return 0 if self.parity.passed else EXIT_PARITY_FAILED


def _dump(path: Path, data: Any) -> None:
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def _server_pids(inputs: CompareInputs) -> dict[str, int | None]:
    launched = {s.name: s.pid for s in inputs.launched}
    return {t.name: launched.get(t.name) or listening_pid(t.base_url) for t in inputs.targets}


def _meta(inputs: CompareInputs, baseline: str, pids: dict[str, int | None]) -> dict[str, Any]:
    launched = {s.name: s for s in inputs.launched}
    servers = []
    for info in inputs.infos:
        entry = info.to_dict()
        pid = pids.get(info.name)
        entry["pid_found"] = pid is not None
        entry["idle_rss_bytes"] = tree_rss_bytes(pid) if pid is not None else None
        if info.name in launched:
            server = launched[info.name]
            entry["launch"] = {
                "argv": server.argv,
                "command": shlex.join(server.argv),
                "env": server.env,
                "load_time_s": server.load_time_s,
                "first_token_s": server.first_token_s,
                "first_token_error": server.first_token_error,
                "log": str(server.log_path),
                "gpu_memory": server.gpu_memory,
            }
        servers.append(entry)
    return {
        "kind": "compare",
        "command": shlex.join(["loadgen", *inputs.command[1:]] if inputs.command else []),
        "targets": [{"name": t.name, "base_url": t.base_url, "model": t.model} for t in inputs.targets],
        "servers": servers,
        "baseline": baseline,
        "seed": inputs.plan.seed,
        "plan": inputs.plan.to_dict(),
        "loads": [asdict(level.load) for level in inputs.sweep_levels()],
        "sweep_levels": None if inputs.levels is None else [level.to_dict() for level in inputs.levels],
        "request": request_summary(inputs.request, inputs.slo),
        "workload": inputs.workload,
        "slo": None if inputs.slo is None else request_summary(inputs.request, inputs.slo)["slo"],
        "percentiles": list(inputs.percentiles),
        "tokenizer": inputs.tokenizer,
        "warnings": list(inputs.warnings),
    }


class Comparison:
    """Runs one comparison into `run_dir`; `echo` receives one-line progress messages."""

    def __init__(
        self,
        inputs: CompareInputs,
        run_dir: Path,
        echo: Callable[[str], None],
        progress: Progress | None = None,
    ) -> None:
        self.inputs, self.run_dir, self.echo, self.progress = inputs, run_dir, echo, progress
        self.baseline = choose_baseline([t.name for t in inputs.targets], inputs.plan.baseline)
        self.pids = _server_pids(inputs)
        self.tokens = Tokens(inputs.tokenizer)
        self.counter: TokenCounter | None = None
        self.writer = RunWriter(run_dir, _meta(inputs, self.baseline, self.pids))
        self.summaries: list[dict[str, Any]] = []
        self.batches = BatchCollector(inputs.targets, run_dir)
        self.scraper: ServerMetricsRecorder | None = None
        self.gpu: GpuMonitor | None = None
        self.gpu_processes: GpuProcessMemory | None = None
        self.levels = {level.load.label: level for level in inputs.sweep_levels()}

    async def _probe(self, stop: asyncio.Event) -> dict[str, list[RequestRecord]]:
        """The greedy probe on each target, one request at a time."""
        plan = self.inputs.plan
        prompts = probe_prompts(plan.probe_prompts, plan.probe_tokens)
        request = replace(
            self.inputs.request,
            api="completions",
            stream=True,
            ignore_eos=False,
            temperature=0.0,
            n=1,
            min_tokens=None,
            max_tokens=prompts[0].output_tokens,
            save_text=True,
            include_usage=True,
        )
        load = LoadSpec(mode="closed", concurrency=1, num_requests=len(prompts), seed=self.inputs.plan.seed)
        sink = JsonlSink(self.run_dir / "parity.jsonl")
        out: dict[str, list[RequestRecord]] = {}
        try:
            for target in self.inputs.targets:
                self.echo(f"parity probe: {len(prompts)} greedy completions on {target.name}")
                memory = MemorySink()
                tee = _Tee(memory, RelabelSink(sink, "parity"))
                await run_level(
                    target, prompts, load, request, tee, stop=stop, id_prefix=f"{target.name}-parity"
                )
                out[target.name] = sorted(memory.records, key=lambda r: r.index)
                self.batches.collect(target.name, "parity")
        finally:
            sink.close()
        return out

    def _on_level(self, result: LevelResult) -> None:
        formed = self.batches.collect(str(result.summary["target"]), str(result.summary["level"]))
        if formed is not None:
            result.summary["server_batches"] = formed
        if self.scraper is not None:
            result.summary["server_metrics"] = self.scraper.level_done(
                result.target, result.level, result.records
            )
        if self.gpu is not None:
            result.summary["gpu"] = self.gpu.level_done(result.records)
        level = self.levels.get(result.level)
        if level is not None:
            level.annotate(result.summary)
        self.writer.write_summary(result.summary)
        self.summaries.append(result.summary)
        s = result.summary
        verdict = " (client-bound!)" if result.selfcheck.client_bound else ""
        verdict += gpu_note(s.get("gpu"))
        ttft = s.get("p50_ttft_ms")
        ttft_text = "-" if ttft is None else f"{ttft:.0f}"
        run = f" repeat {s['repeat'] + 1}/{s['repeats']}" if "repeat" in s else ""
        run += " (re-run)" if s.get("attempt", 1) > 1 else ""
        self.echo(
            f"  {s['label']}{run}: {s['completed']} ok, {s['failed']} failed, "
            f"{s['output_throughput']:.1f} output tok/s, TTFT p50 {ttft_text} ms{verdict}"
        )

    def _on_pooled(self, summary: dict[str, Any]) -> None:
        self.writer.write_summary(summary)
        self.summaries.append(summary)

    def _on_rerun(self, level: str) -> None:
        self.echo(f"  {level} was client-bound: running it once more (--rerun-client-bound)")
        self.writer.meta.setdefault("reruns", []).append(level)

    def _on_batch(self, batch: BatchResult) -> None:
        batch.server_batches = self.batches.collect(batch.target, f"batch={batch.batch_size}")
        peak = (
            "" if batch.peak_rss_bytes is None else f", peak memory {batch.peak_rss_bytes / 2**20:,.0f} MiB"
        )
        self.echo(
            f"  {batch.target} batch={batch.batch_size}: {batch.seconds:.2f} s to finish, "
            f"{batch.output_tokens_per_s:.1f} output tok/s{peak}{gpu_note(batch.gpu)}"
        )

    async def _run(self, stop: asyncio.Event) -> CompareOutcome:
        if self.inputs.gpu_monitor:
            self.gpu = GpuMonitor(self.run_dir / GPU_STATE_FILE, self.inputs.gpu_monitor_interval_ms)
            try:
                self.gpu.start()
            except GpuMonitorError as exc:
                self.echo(f"GPU monitor off: {exc}")
                self.gpu = None
            else:
                if not self.gpu.wait_first(FIRST_SAMPLE_TIMEOUT_S):
                    self.echo(f"GPU monitor: no sample from nvidia-smi in {FIRST_SAMPLE_TIMEOUT_S:.0f} s")
                if any(pid is not None for pid in self.pids.values()):
                    self.gpu_processes = GpuProcessMemory(self.pids, self.run_dir / GPU_PROCESSES_FILE)
                    self.gpu_processes.start()
        try:
            return await self._measure(stop)
        finally:
            if self.gpu_processes is not None:
                self.writer.meta["gpu_process_memory"] = self.gpu_processes.close()
            if self.gpu is not None:
                self.gpu.close()

    async def _measure(self, stop: asyncio.Event) -> CompareOutcome:
        inputs, plan = self.inputs, self.inputs.plan
        probes = await self._probe(stop)
        parity = ParityReport(
            [
                token_agreement_gate(
                    probes,
                    self.baseline,
                    self.tokens,
                    random_weights=plan.random_weights,
                    random_values=plan.random_values,
                ),
                usage_gate(probes, [], self.tokens, random_weights=plan.random_weights or plan.random_values),
            ]
        )
        _dump(self.run_dir / PARITY_FILE, parity.to_dict())
        for gate in parity.gates:
            self.echo(f"parity {gate.name}: {gate.status.upper()}: {gate.summary}")
        if not parity.passed and plan.parity == "gate":
            return CompareOutcome(self.run_dir, parity, [], [], stopped_at_parity=True)
        levels = inputs.sweep_levels()
        loads = [level.load for level in levels]
        self.echo(
            f"sweep: {', '.join(load.label for load in loads)} "
            f"on {', '.join(t.name for t in inputs.targets)} "
            f"(interleaved{f', {plan.repeats} repeats each' if plan.repeats > 1 else ''})"
        )
        if inputs.server_metrics_interval_s > 0:
            self.scraper = ServerMetricsRecorder(
                inputs.targets, self.run_dir, inputs.server_metrics_interval_s
            )
            self.scraper.start()
        self.writer.sink.on_error = lambda exc: stop.set()  # a full disk stops the sweep, lines kept whole
        results = await interleaved_sweep(
            inputs.targets,
            inputs.prompts,
            loads,
            inputs.request,
            self.writer.sink,
            stop=stop,
            progress=self.progress,
            percentiles=inputs.percentiles,
            slo=inputs.slo,
            on_level=self._on_level,
            level_prompts=None if inputs.levels is None else [level.prompts for level in levels],
            repeats=plan.repeats,
            rerun_client_bound=plan.rerun_client_bound,
            on_pooled=self._on_pooled,
            on_rerun=self._on_rerun,
        )
        if self.scraper is not None:
            self.scraper.close()
        sweep_records = [r for result in results for r in result.records]
        random_text = plan.random_weights or plan.random_values
        capacity = await self._capacity(stop) if plan.capacity_search and not stop.is_set() else []
        offline: list[BatchResult] = []
        if plan.offline_batches and not stop.is_set():
            self.echo(f"offline batches: {', '.join(map(str, plan.offline_batches))} prompts at once")
            sink = JsonlSink(self.run_dir / "offline.jsonl")
            try:
                offline = await run_batches(
                    inputs.targets,
                    inputs.prompts,
                    plan.offline_batches,
                    inputs.request,
                    sink,
                    self.pids,
                    seed=plan.seed,
                    stop=stop,
                    on_batch=self._on_batch,
                    gpu_view=None if self.gpu is None else self.gpu.level_done,
                )
            finally:
                sink.close()
            _dump(self.run_dir / OFFLINE_FILE, [b.to_dict() for b in offline])
        parity = ParityReport(
            [
                parity.gates[0],
                usage_gate(probes, sweep_records, self.tokens, random_weights=random_text),
                output_length_gate(sweep_records, ignore_eos=inputs.request.ignore_eos),
            ]
        )
        _dump(self.run_dir / PARITY_FILE, parity.to_dict())
        for gate in parity.gates[1:]:
            self.echo(f"parity {gate.name}: {gate.status.upper()}: {gate.summary}")
        return CompareOutcome(
            self.run_dir, parity, self.summaries, offline, stopped_at_parity=False, capacity=capacity
        )

    async def _capacity(self, stop: asyncio.Event) -> list[CapacityResult]:
        """Capacity at SLO of each target (`--capacity-search`), into `capacity.json`."""
        inputs = self.inputs
        if inputs.slo is None or inputs.slo.is_empty:
            raise ValueError("the capacity search needs at least one SLO")
        settings = CapacitySettings.of(inputs.plan)
        self.echo(
            f"capacity at SLO: highest rate with goodput >= {100 * settings.threshold:.0f}%, "
            f"{settings.start_rate:g} to {settings.max_rate:g} req/s, "
            f"at most {settings.max_steps} probes per server"
        )

        def on_probe(target: str, probe: ProbeResult) -> None:
            if probe.interrupted:
                self.echo(
                    f"  {target} rate={probe.rate:g}: interrupted by the stop, no verdict "
                    f"({probe.met_slo} of {probe.requests} planned requests finished within SLO)"
                )
                return
            passed = probe.passed(settings.threshold)
            verdict = "pass" if passed else "fail"
            if passed and probe.burst:
                verdict += (
                    f" as a burst only ({probe.window_s:.1f} s of arrivals, E2E p50 {probe.e2e_p50_s:.1f} s)"
                )
            elif probe.ended_early:
                verdict += " (ended once certain)"
            bound = " (client-bound!)" if probe.client_bound else ""
            self.echo(
                f"  {target} rate={probe.rate:g}: {probe.met_slo}/{probe.requests} within SLO "
                f"({100 * probe.goodput_share:.0f}%): {verdict}{bound}"
            )

        sink = JsonlSink(self.run_dir / CAPACITY_RECORDS)
        try:
            results = await find_capacities(
                inputs.targets,
                inputs.prompts,
                inputs.plan,
                settings,
                inputs.request,
                inputs.slo,
                sink,
                stop=stop,
                on_probe=on_probe,
            )
        finally:
            sink.close()
        _dump(self.run_dir / CAPACITY_FILE, capacity_file(results, settings, inputs.slo, inputs.plan))
        return results

    def run(self) -> CompareOutcome:
        """Run on a fresh event loop. Ctrl-C or SIGTERM (e.g. from `timeout`) stops scheduling and keeps
        what was measured: summaries, report, launched servers stopped. A second one quits at once
        (KeyboardInterrupt: launched servers are still stopped on the way out)."""
        loop = new_event_loop("auto")
        stop = asyncio.Event()

        def on_signal(name: str) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            self.echo(f"stopping ({name}): requests in flight are recorded as cancelled (again to quit)")
            stop.set()

        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, on_signal, sig.name)
        outcome: CompareOutcome | None = None
        try:
            outcome = loop.run_until_complete(self._run(stop))
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            loop.close()
            if outcome is not None:
                self.writer.meta["parity_passed"] = outcome.parity.passed
                self.writer.meta["stopped_at_parity"] = outcome.stopped_at_parity
            self.writer.finish(interrupted=outcome is None or stop.is_set())
        return outcome


class _Tee:
    """A sink that forwards every record to several sinks."""

    def __init__(self, *sinks: MemorySink | RelabelSink) -> None:
        self.sinks = sinks

    def write(self, record: RequestRecord) -> None:
        """Forward to each sink."""
        for sink in self.sinks:
            sink.write(record)


def default_tokenizer(infos: Sequence[ServerInfo], fallback: Path) -> str | None:
    """A local tokenizer for the served model: a server's model directory if it is on this host."""
    for info in infos:
        if info.root and (Path(info.root) / "tokenizer.json").is_file():
            return info.root
    return str(fallback) if (fallback / "tokenizer.json").is_file() else None


def env_model_dir() -> Path:
    """`$SERVEBENCH_MODEL_DIR`, else `.cache/models/SmolLM2-135M-Instruct` (the launch configuration's)."""
    from servers.vllm.launch import default_model_dir

    return default_model_dir()
