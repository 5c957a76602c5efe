"""What `loadgen compare` and `loadgen demo` do once their options are parsed (imported lazily)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import click
import orjson

from loadgen.compare.launch import LaunchedServer, launched
from loadgen.compare.options import check_load_options
from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison, default_tokenizer, env_model_dir
from loadgen.compare.targets import TargetSpec, check_same_model, parse_targets, probe, setting_warnings
from loadgen.compare.workload import build_compare_workload
from loadgen.errors import ConfigError
from loadgen.exit_status import DEFAULT_MAX_ERROR_RATE, EXIT_PARITY_FAILED, error_verdict
from loadgen.launcher import free_port
from loadgen.progress import Progress
from loadgen.results import default_run_dir
from loadgen.run_config import RequestOptions, Target
from loadgen.stats import SLO

DEMO_DEFAULTS: dict[str, Any] = {
    "targets": (),
    "launch": True,
    "model": None,
    "rate": None,
    "max_concurrency": None,
    "num_requests": None,
    "warmup": None,
    "api": "completions",
    "ignore_eos": True,
    "slo": ("ttft:1000", "tpot:100"),
    "baseline": None,
    "parity": "gate",
    "tokenizer": None,
    "seed": 0,
    "client_kind": "fast",
    "api_key_env": "OPENAI_API_KEY",
    "requests_per_slot": 2,
    "min_requests": 4,
    "max_error_rate": DEFAULT_MAX_ERROR_RATE,
    "server_metrics_interval": 1.0,
    "realistic_concurrency": 8,
    "realistic_requests": 16,
    "realistic_max_answer_len": 64,
    "realistic_max_prompt_len": 256,
    # on a small shared machine the client can fall behind at a level: run it once more rather than
    # end the demo without a verdict for it
    "rerun_client_bound": True,
}


def demo_options(opts: dict[str, Any]) -> dict[str, Any]:
    """`loadgen demo`'s options: a `compare --launch` with demo defaults."""
    return {**DEMO_DEFAULTS, **opts}


def _echo(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


def _numbers(text: str | None, kind: type[int] | type[float], name: str) -> tuple[Any, ...]:
    """Comma-separated numbers above 0 (`--concurrency 1,4,16`)."""
    if not text:
        return ()
    try:
        values = tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"takes comma-separated numbers, got {text!r}", param_hint=name) from None
    if not values or any(v <= 0 for v in values):
        raise click.BadParameter("needs numbers above 0", param_hint=name)
    return values


def build_plan(opts: dict[str, Any]) -> ComparePlan:
    """The plan the options describe."""
    if opts.get("concurrency") and opts.get("rate"):
        raise click.UsageError("use --concurrency (closed loop) or --rate (open loop), not both")
    batches_text = str(opts.get("offline_batches") or "")
    batches = (
        ()
        if batches_text.strip().lower() in ("", "none", "0")
        else _numbers(batches_text, int, "--offline-batches")
    )
    mode: Literal["closed", "open"] = "open" if opts.get("rate") else "closed"
    if mode == "open":
        levels = _numbers(opts["rate"], float, "--rate")
    else:
        levels = _numbers(opts.get("concurrency") or "1,4,16", int, "--concurrency")
    check_load_options(opts, mode)
    return ComparePlan(
        mode=mode,
        levels=tuple(float(v) for v in levels),
        requests_per_level=opts.get("num_requests"),
        warmup=opts.get("warmup"),
        max_concurrency=opts.get("max_concurrency"),
        seed=opts.get("seed", 0),
        offline_batches=tuple(int(b) for b in batches),
        parity=opts.get("parity", "gate"),
        random_weights=bool(opts.get("random_weights")),
        baseline=opts.get("baseline"),
        requests_per_slot=opts.get("requests_per_slot", 4),
        min_requests=opts.get("min_requests", 8),
        probe_prompts=opts.get("probe_prompts", 8),
        probe_tokens=opts.get("probe_tokens", 32),
        arrival=opts.get("arrival") or "poisson",
        burstiness=opts.get("burstiness") or 1.0,
        repeats=opts.get("repeats") or 1,
        rerun_client_bound=bool(opts.get("rerun_client_bound")),
        capacity_search=bool(opts.get("capacity_search")),
        capacity_max_rate=opts.get("capacity_max_rate") or 64.0,
        capacity_steps=opts.get("capacity_steps") or 12,
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


@contextmanager
def _servers(opts: dict[str, Any]) -> Iterator[tuple[list[TargetSpec], list[LaunchedServer]]]:
    """The targets: parsed from NAME=URL, or started here with `--launch`."""
    if not opts.get("launch"):
        yield parse_targets(opts.get("targets") or ()), []
        return
    if opts.get("targets"):
        raise click.UsageError("--launch starts its own servers; leave out NAME=URL targets")
    from servers.vllm.launch import HfLaunch, ServeSettings, VllmLaunch

    model_dir = Path(opts.get("model_dir") or env_model_dir()).resolve()
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"no model at {model_dir}: build it with `hf-server prepare-model {model_dir}`")
    settings = ServeSettings(
        model_dir,
        max_model_len=opts["max_model_len"],
        dtype=opts["dtype"],
        device=opts["device"],
        random_weights=bool(opts["random_weights"]),
        served_model_name=model_dir.name,
    )
    budget = opts.get("gpu_memory_gib")
    if budget is not None and (settings.device != "cuda" or opts.get("gpu_memory_utilization")):
        raise click.UsageError("--gpu-memory-gib needs --device cuda and no --gpu-memory-utilization")
    gpu_share = opts.get("gpu_memory_utilization") or (
        0.5 if settings.device == "cuda" and budget is None else None
    )
    try:
        vllm = VllmLaunch(
            settings,
            port=free_port(),
            kv_cache_gib=opts["kv_cache_gib"],
            gpu_memory_utilization=gpu_share,
            gpu_memory_gib=budget,
            cache_dir=Path(".cache/vllm"),
        )
        vllm.argv()  # the GiB budget's share of the GPU, checked before anything starts
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    hf = HfLaunch(
        settings,
        port=free_port(),
        max_batch_size=opts["hf_max_batch_size"],
        max_wait_ms=opts["hf_max_wait_ms"],
        gpu_memory_gib=budget,
    )
    log_dir = Path(opts["_run_dir"]) / "logs"
    with launched(
        [("vllm", vllm), ("hf", hf)],
        log_dir,
        timeout_s=opts["start_timeout"],
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
        yield [TargetSpec(s.name, s.base_url) for s in servers], servers


def execute(opts: dict[str, Any], argv: Sequence[str]) -> int:
    """Run a comparison and write its report; return the exit status."""
    from loadgen.report.build import write_report
    from loadgen.report.console import offline_table, summary_table, verdict_lines

    plan = build_plan(opts)
    slo = SLO.parse(list(opts["slo"])) if opts.get("slo") else None
    run_dir = Path(opts.get("output_dir") or default_run_dir())
    opts["_run_dir"] = run_dir
    request = RequestOptions(
        api=opts.get("api", "completions"),
        stream=True,
        max_tokens=opts["output_len"],
        ignore_eos=bool(opts.get("ignore_eos", True)),
        # vLLM refuses n > 1 with greedy decoding ("n must be 1 when using greedy sampling").
        temperature=0.0 if int(opts.get("n") or 1) == 1 else 1.0,
        n=int(opts.get("n") or 1),
        client=opts.get("client_kind", "fast"),
    )
    early = None
    model_dir = Path(opts.get("model_dir") or env_model_dir())
    if opts.get("launch") and (model_dir / "config.json").is_file():
        # the tokenizer is the launched model's: bad input ends here, before any server starts
        early = build_compare_workload(opts, plan, opts.get("tokenizer") or str(model_dir), request.api)
    with _servers(opts) as (specs, servers):
        api_key = os.environ.get(opts.get("api_key_env") or "OPENAI_API_KEY") or None
        infos = [probe(spec.name, spec.base_url, api_key) for spec in specs]
        problems = (
            check_same_model(infos)
            if not opts.get("model")
            else [
                f"{i.name} ({i.base_url}) is not ready: {i.error or 'unhealthy'}"
                for i in infos
                if not i.healthy
            ]
        )
        if problems:
            raise ConfigError("; ".join(problems))
        targets = [Target(i.name, i.base_url, opts.get("model") or str(i.model), api_key) for i in infos]
        launched_dir = (opts.get("model_dir") or env_model_dir()) if opts.get("launch") else None
        if saved_random_weights([launched_dir, *(i.root for i in infos)]):
            plan = replace(plan, random_values=True)
        tokenizer = opts.get("tokenizer") or default_tokenizer(
            infos, Path(opts.get("model_dir") or env_model_dir())
        )
        built = early or build_compare_workload(
            opts, plan, None if tokenizer is None else str(tokenizer), request.api
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
            warnings=setting_warnings(infos, random_weights=bool(opts.get("random_weights"))),
            command=argv,
            server_metrics_interval_s=float(opts.get("server_metrics_interval", 1.0)),
            levels=built.levels,
        )
        _echo(
            f"comparing {', '.join(f'{t.name} ({t.base_url})' for t in targets)}, model {targets[0].model}; "
            f"results in {run_dir}"
        )
        progress = Progress(enabled=not opts.get("no_progress"))
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
    verdict = error_verdict(outcome.summaries, float(opts.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)))
    if verdict.message:
        click.echo(f"loadgen: {verdict.message}", err=True)
    if outcome.stopped_at_parity or verdict.code == 0:
        return outcome.exit_code
    return verdict.code if outcome.exit_code in (0, EXIT_PARITY_FAILED) else outcome.exit_code
