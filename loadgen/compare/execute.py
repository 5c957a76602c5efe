"""What `loadgen compare` and `loadgen demo` do once their options are parsed (imported lazily)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click
import orjson

from loadgen.compare.budget import VllmBudget
from loadgen.compare.launch import LaunchedServer, launched
from loadgen.compare.options import check_load_options
from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison, default_tokenizer, env_model_dir
from loadgen.compare.targets import TargetSpec, check_same_model, parse_targets, probe, setting_warnings
from loadgen.compare.workload import build_compare_workload
from loadgen.errors import ConfigError
from loadgen.exit_status import EXIT_PARITY_FAILED, error_verdict
from loadgen.gpu_monitor import available as gpu_monitor_available
from loadgen.launcher import free_port
from loadgen.progress import Progress
from loadgen.results import check_fresh, default_run_dir
from loadgen.run_config import RequestOptions, Target, Timeouts
from loadgen.settings.compare import CompareSettings
from loadgen.settings.table import load_mode
from loadgen.stats import SLO


def _echo(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


def build_plan(settings: CompareSettings) -> ComparePlan:
    """The plan the settings describe."""
    mode = load_mode(settings.concurrency, settings.rate)
    levels = settings.rate if mode == "open" else settings.concurrency
    check_load_options(settings, mode)
    return ComparePlan(
        mode=mode,
        levels=ComparePlan.levels if levels is None else tuple(float(v) for v in levels),
        requests_per_level=settings.num_requests,
        warmup=settings.warmup,
        max_concurrency=settings.max_concurrency,
        seed=settings.seed,
        offline_batches=settings.offline_batches,
        parity=settings.parity,
        random_weights=settings.servers.random_weights,
        baseline=settings.baseline,
        requests_per_slot=settings.requests_per_slot,
        min_requests=settings.min_requests,
        probe_prompts=settings.probe_prompts,
        probe_tokens=settings.probe_tokens,
        arrival=settings.arrival or ComparePlan.arrival,
        burstiness=settings.burstiness or ComparePlan.burstiness,
        repeats=settings.repeats,
        rerun_client_bound=settings.rerun_client_bound,
        capacity_search=settings.capacity_search,
        capacity_max_rate=settings.capacity_max_rate or ComparePlan.capacity_max_rate,
        capacity_steps=settings.capacity_steps or ComparePlan.capacity_steps,
        capacity_min_rate=settings.capacity_min_rate,
    )


def saved_random_weights(directories: Sequence[str | Path | None]) -> bool:
    """True when a served model directory holds random values saved by `hf-server init-weights` (its
    manifest, `servebench-model.json`, records them)."""
    for directory in directories:
        if directory is None:
            continue
        try:
            manifest = orjson.loads((Path(directory) / "servebench-model.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(manifest, dict) and isinstance(manifest.get("random_weights"), dict):
            return True
    return False


def _model_dir(settings: CompareSettings) -> Path:
    """The model directory `--launch` serves: --model-dir, else $SERVEBENCH_MODEL_DIR or the default."""
    return Path(settings.servers.model_dir or env_model_dir())


@contextmanager
def _servers(
    settings: CompareSettings, run_dir: Path
) -> Iterator[tuple[list[TargetSpec], list[LaunchedServer]]]:
    """The targets: parsed from NAME=URL, or started here with `--launch` (logs under `run_dir`)."""
    if not settings.launch:
        yield parse_targets(settings.targets), []
        return
    if settings.targets:
        raise click.UsageError("--launch starts its own servers; leave out NAME=URL targets")
    from servers.vllm.launch import HfLaunch, ServeSettings, VllmLaunch

    launch = settings.servers
    model_dir = _model_dir(settings).resolve()
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"no model at {model_dir}: build it with `hf-server prepare-model {model_dir}`")
    serve = ServeSettings(
        model_dir,
        max_model_len=launch.max_model_len,
        dtype=launch.dtype,
        device=launch.device,
        random_weights=launch.random_weights,
        served_model_name=model_dir.name,
    )
    budget = launch.gpu_memory_gib
    if budget is not None and (serve.device != "cuda" or launch.gpu_memory_utilization):
        raise click.UsageError("--gpu-memory-gib needs --device cuda and no --gpu-memory-utilization")
    if launch.hf_cuda_alloc_conf is not None and serve.device != "cuda":
        raise click.UsageError("--hf-cuda-alloc-conf configures CUDA memory: it needs --device cuda")
    gpu_share = launch.gpu_memory_utilization or (0.5 if serve.device == "cuda" and budget is None else None)
    try:
        vllm = VllmLaunch(
            serve,
            port=free_port(),
            kv_cache_gib=launch.kv_cache_gib,
            gpu_memory_utilization=gpu_share,
            gpu_memory_gib=budget,
            startup_plan=launch.vllm_over_budget == "restart",
            cache_dir=Path(".cache/vllm"),
        )
        vllm.argv()  # the GiB budget's share of the GPU, checked before anything starts
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    hf = HfLaunch(
        serve,
        port=free_port(),
        max_batch_size=launch.hf_max_batch_size,
        max_wait_ms=launch.hf_max_wait_ms,
        burst_gap_ms=launch.hf_burst_gap_ms,
        gpu_memory_gib=budget,
        cuda_alloc_conf=launch.hf_cuda_alloc_conf,
    )
    log_dir = run_dir / "logs"
    budget_check = (
        None if budget is None else VllmBudget(vllm, budget, over=launch.vllm_over_budget, echo=_echo)
    )
    with launched(
        [("vllm", vllm), ("hf", hf)],
        log_dir,
        timeout_s=launch.start_timeout,
        refit=None if budget_check is None else budget_check.refit,
        on_start=lambda name: _echo(f"starting {name} (log: {log_dir / (name + '.log')})"),
        on_ready=lambda server: _echo(
            f"{server.name} healthy at {server.base_url} after {server.load_time_s:.1f} s, "
            + (
                f"first token after {server.first_token_s:.1f} s"
                if server.first_token_s is not None
                else f"first token failed ({server.first_token_error})"
            )
        ),
    ) as servers:
        if budget_check is not None:
            for server in servers:
                if server.name == "vllm":
                    server.gpu_memory = budget_check.record(server)
        yield [TargetSpec(s.name, s.base_url) for s in servers], servers


def _gpu_monitor(choice: str) -> bool:
    """Whether to sample the GPUs: `auto` when nvidia-smi is on PATH; `on` insists on it."""
    if choice == "on" and not gpu_monitor_available():
        raise click.UsageError("--gpu-monitor on needs nvidia-smi on PATH")
    return choice == "on" or (choice == "auto" and gpu_monitor_available())


def execute(settings: CompareSettings, argv: Sequence[str]) -> int:
    """Run a comparison and write its report; return the exit status."""
    from loadgen.report.build import write_report
    from loadgen.report.console import offline_table, summary_table, verdict_lines

    plan = build_plan(settings)
    gpu_monitor = _gpu_monitor(settings.gpu_monitor)
    slo = SLO.parse(list(settings.slo)) if settings.slo else None
    run_dir = Path(settings.output_dir or default_run_dir())
    check_fresh(run_dir)  # the run's writer checks too, but only after the servers have started
    request = RequestOptions(
        api=settings.api,
        stream=True,
        max_tokens=settings.output_len,
        ignore_eos=settings.ignore_eos,
        # vLLM refuses n > 1 with greedy decoding ("n must be 1 when using greedy sampling").
        temperature=0.0 if settings.n == 1 else 1.0,
        n=settings.n,
        client=settings.client_kind,
        timeouts=Timeouts(
            ttft_s=settings.ttft_timeout,
            idle_s=settings.idle_timeout,
            total_s=settings.request_timeout,
        ),
    )
    early = None
    model_dir = _model_dir(settings)
    if settings.launch and (model_dir / "config.json").is_file():
        # the tokenizer is the launched model's: bad input ends here, before any server starts
        early = build_compare_workload(settings, plan, settings.tokenizer or str(model_dir), request.api)
    with _servers(settings, run_dir) as (specs, servers):
        api_key = os.environ.get(settings.api_key_env or "OPENAI_API_KEY") or None
        infos = [probe(spec.name, spec.base_url, api_key) for spec in specs]
        problems = (
            check_same_model(infos)
            if not settings.model
            else [
                f"{i.name} ({i.base_url}) is not ready: {i.error or 'unhealthy'}"
                for i in infos
                if not i.healthy
            ]
        )
        if problems:
            raise ConfigError("; ".join(problems))
        targets = [Target(i.name, i.base_url, settings.model or str(i.model), api_key) for i in infos]
        launched_dir = model_dir if settings.launch else None
        if saved_random_weights([launched_dir, *(i.root for i in infos)]):
            plan = replace(plan, random_values=True)
        tokenizer = settings.tokenizer or default_tokenizer(infos, model_dir)
        built = early or build_compare_workload(
            settings, plan, None if tokenizer is None else str(tokenizer), request.api
        )
        inputs = CompareInputs(
            infos,
            targets,
            built.prompts,
            built.description,
            request,
            plan,
            slo=slo,
            tokenizer=None if tokenizer is None else str(tokenizer),
            launched=servers,
            warnings=setting_warnings(infos, random_weights=settings.servers.random_weights),
            command=argv,
            server_metrics_interval_s=settings.server_metrics_interval,
            gpu_monitor=gpu_monitor,
            levels=built.levels,
        )
        _echo(
            f"comparing {', '.join(f'{t.name} ({t.base_url})' for t in targets)}, model {targets[0].model}; "
            f"results in {run_dir}"
        )
        progress = Progress(enabled=not settings.no_progress)
        outcome = Comparison(inputs, run_dir, _echo, progress).run()
    report = write_report([run_dir])
    if report.data.levels:
        click.echo(summary_table(report.data))
        for line in verdict_lines(report.data) if outcome.parity.passed else []:
            click.echo(line)
    if outcome.offline:
        click.echo(offline_table(report.data))
    for gate in outcome.parity.failures:
        click.echo(f"PARITY FAILED ({gate.name}): {gate.summary}")
    if outcome.stopped_at_parity:
        click.echo(
            "the sweep was not run: the servers are not comparable (use --parity report to sweep anyway)"
        )
    if report.figures_note:
        click.echo(report.figures_note)
    click.echo(f"report: {report.html} (and report.md, {len(report.figures)} PNG plots) in {run_dir}")
    verdict = error_verdict(outcome.summaries, settings.max_error_rate)
    if verdict.message:
        click.echo(f"loadgen: {verdict.message}", err=True)
    if outcome.stopped_at_parity or verdict.code == 0:
        return outcome.exit_code
    return verdict.code if outcome.exit_code in (0, EXIT_PARITY_FAILED) else outcome.exit_code
