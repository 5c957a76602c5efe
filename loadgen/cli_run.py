"""What `loadgen run` does once its arguments are parsed (imported lazily to keep `--help` fast)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from loadgen.exit_status import EXIT_INTERRUPTED, EXIT_USAGE, EXIT_WRITE_FAILED, error_verdict
from loadgen.launcher import Launched, LaunchError, free_port, start_process, wait_healthy
from loadgen.redact import redact_argv, redact_headers
from loadgen.run_config import LoadSpec, RequestOptions, Target, Timeouts
from loadgen.settings.run import RunSettings
from loadgen.settings.table import load_mode
from loadgen.workloads.base import Prompt
from servers.vllm.launch import default_model_dir


def command_line(argv: Sequence[str]) -> str:
    """The command as the user would type it again (`python -m loadgen ...`), secrets redacted."""
    if not argv:
        return "loadgen"
    program = "python -m loadgen" if argv[0].endswith("__main__.py") else os.path.basename(argv[0])
    return " ".join([program, *(shlex.quote(a) for a in redact_argv(argv[1:]))])


class ServerUnreachable(click.ClickException):
    """The server could not be asked anything before the run (exit status 2, like bad input)."""

    exit_code = EXIT_USAGE


def start_sim(extra: Sequence[str], timeout_s: float = 30.0) -> tuple[Launched, str]:
    """Start the scripted server on a free loopback port and wait until it is healthy."""
    port = free_port()
    args = [sys.executable, "-m", "servers.sim", "--port", str(port)]
    for item in extra:
        args.extend(shlex.split(item))
    sim = start_process(args, name="the scripted server", grace_s=10)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(sim, url + "/health", timeout_s, tail_lines=1)
    except BaseException as exc:
        sim.stop()
        if isinstance(exc, LaunchError):
            raise click.ClickException(str(exc)) from None
        raise
    return sim, url


def first_model(base_url: str, api_key: str | None) -> str:
    """The first model the server lists under /v1/models."""
    base = base_url.rstrip("/")
    url = base + ("/models" if base.endswith("/v1") else "/v1/models")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.loads(response.read())["data"][0]["id"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ServerUnreachable(f"cannot list models at {url} ({exc}); pass --model") from None


def _tokenizer_path(settings: RunSettings) -> str | None:
    if settings.tokenizer:
        return settings.tokenizer
    model_dir = default_model_dir()
    return str(model_dir) if (model_dir / "tokenizer.json").is_file() else None


def build_workload(settings: RunSettings) -> tuple[list[Prompt], dict[str, Any]]:
    """The prompts the settings ask for, and a description for the run metadata."""
    from loadgen.workloads import build_prompts
    from loadgen.workloads.options import describe_workload, workload_kind, workload_spec

    kind = workload_kind(settings.workload)
    tokenizer = _tokenizer_path(settings)
    if kind in ("synthetic", "sharegpt") and tokenizer is None:
        raise click.UsageError(
            f"the {kind} workload needs a tokenizer: pass --tokenizer (tokenizer.json or model dir), "
            "or use --workload jsonl --dataset-path FILE"
        )
    spec = workload_spec(
        settings.workload,
        num_prompts=settings.num_prompts,
        tokenizer=tokenizer,
        api=settings.api,
        input_len=settings.input_len,
        output_len=settings.output_len or (settings.max_tokens if kind == "synthetic" else None),
        seed=settings.seed,
    )
    prompts = build_prompts(spec)
    if not prompts:
        raise click.UsageError("the workload produced no prompts")
    return prompts, describe_workload(spec, prompts, settings.max_tokens)


def build_loads(settings: RunSettings) -> list[LoadSpec]:
    """One `LoadSpec` per level of `--concurrency` or `--rate`."""
    load_mode(settings.concurrency, settings.rate)  # both given: a usage error
    common: dict[str, Any] = dict(
        duration_s=settings.duration,
        warmup_requests=settings.warmup,
        seed=settings.seed,
        preopen=settings.preopen,
    )
    if settings.rate:
        rates = settings.rate
        num = settings.num_requests or (None if settings.duration else 100)
        return [
            LoadSpec(
                mode="open",
                rate=r,
                concurrency=settings.max_concurrency,
                arrival=settings.arrival,
                burstiness=settings.burstiness,
                num_requests=num,
                **common,
            )
            for r in rates
        ]
    if settings.max_concurrency:
        raise click.UsageError("--max-concurrency caps open-loop load; with --concurrency it has no meaning")
    levels = settings.concurrency or (1,)
    return [
        LoadSpec(
            mode="closed",
            concurrency=c,
            num_requests=settings.num_requests or (None if settings.duration else max(100, 2 * c)),
            **common,
        )
        for c in levels
    ]


def build_request(settings: RunSettings) -> RequestOptions:
    """The per-request options."""
    if settings.n > 1 and not settings.temperature > 0:
        raise click.BadParameter(
            "n above 1 needs --temperature above 0 (vLLM refuses n > 1 with greedy decoding)",
            param_hint="--n",
        )
    return RequestOptions(
        api=settings.api,
        stream=settings.stream,
        max_tokens=settings.max_tokens,
        ignore_eos=settings.ignore_eos,
        min_tokens=settings.min_tokens,
        temperature=settings.temperature,
        n=settings.n,
        seed=settings.sampling_seed,
        include_usage=not settings.no_usage,
        extra_body=settings.extra_body or {},
        extra_headers=dict(settings.header),
        save_text=settings.save_text,
        timeouts=Timeouts(
            connect_s=settings.connect_timeout,
            ttft_s=settings.ttft_timeout,
            idle_s=settings.idle_timeout,
            total_s=settings.request_timeout,
        ),
        client=settings.client_kind,
    )


def execute(settings: RunSettings, argv: Sequence[str]) -> None:
    """Run `loadgen run` with its settings."""
    from loadgen.stats import SLO

    if not settings.sim and not settings.base_url:
        raise click.UsageError("give --base-url URL, or --sim to run against the embedded scripted server")
    if settings.sim and settings.base_url:
        raise click.UsageError("--sim starts its own server; leave out --base-url")
    loads = build_loads(settings)
    request = build_request(settings)
    percentiles = list(settings.percentiles)
    slo = SLO.parse(list(settings.slo)) if settings.slo else None
    counter = None
    if settings.tokenizer:
        from loadgen.client.tokens import TokenizerCounter

        counter = TokenizerCounter(settings.tokenizer)
    prompts, workload = build_workload(settings)
    sim = None
    try:
        if settings.sim:
            sim, base_url = start_sim(settings.sim_arg)
        else:
            assert settings.base_url is not None  # checked above
            base_url = settings.base_url
        api_key = os.environ.get(settings.api_key_env) or None
        model = settings.model or first_model(base_url, api_key)
        name = settings.target_name or ("sim" if sim else urlsplit(base_url).netloc)
        target = Target(name=name, base_url=base_url, model=model, api_key=api_key)
        status = _run(settings, argv, target, prompts, workload, loads, request, percentiles, slo, counter)
    finally:
        if sim is not None:
            sim.stop()
    if status:
        sys.exit(status)


def _run(
    settings: RunSettings,
    argv: Sequence[str],
    target: Target,
    prompts: list[Prompt],
    workload: dict[str, Any],
    loads: list[LoadSpec],
    request: RequestOptions,
    percentiles: list[float],
    slo: Any,
    counter: Any,
) -> int:
    """Run the levels and write the results; return the exit status (see `loadgen.exit_status`)."""
    from dataclasses import asdict

    from loadgen.progress import Progress
    from loadgen.results import RunWriter, default_run_dir
    from loadgen.runner import LevelResult, new_event_loop, run_sweep
    from loadgen.table import format_summary_table

    out_dir = settings.output_dir or default_run_dir()
    writer = RunWriter(
        out_dir,
        {
            "command": command_line(argv),
            "targets": [{"name": target.name, "base_url": target.base_url, "model": target.model}],
            "seed": settings.seed,
            "loads": [asdict(load) for load in loads],
            "request": asdict(request) | {"extra_headers": redact_headers(request.extra_headers)},
            "workload": workload,
            "slo": list(settings.slo),
            "percentiles": percentiles,
        },
    )
    live = None
    if settings.metrics_port is not None:
        from loadgen.exporter import LiveMetrics

        live = LiveMetrics()
        live.start_http_server(settings.metrics_port, settings.metrics_host)
    progress = Progress(enabled=not settings.no_progress)
    results: list[LevelResult] = []
    unwritten: list[str] = []

    scraper = None
    if settings.server_metrics_interval > 0:
        from loadgen.server_metrics import ServerMetricsRecorder

        scraper = ServerMetricsRecorder([target], Path(out_dir), settings.server_metrics_interval)
        scraper.start()

    def on_level(result: LevelResult) -> None:
        results.append(result)
        if scraper is not None:
            result.summary["server_metrics"] = scraper.level_done(target.name, result.level, result.records)
        for note in result.selfcheck.notes:
            click.echo(f"note: {result.summary['label']}: {note}", err=True)
        try:
            writer.write_summary(result.summary)
        except OSError as exc:
            unwritten.append(f"{result.summary['label']} ({exc.strerror or exc})")
        if result.selfcheck.client_bound:
            click.echo(
                f"warning: {result.summary['label']}: client-bound: {'; '.join(result.selfcheck.reasons)}",
                err=True,
            )

    stop = asyncio.Event()
    writer.sink.on_error = lambda exc: stop.set()  # a full disk stops the run like Ctrl-C, lines kept whole

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                os._exit(130)
            click.echo(
                "\nloadgen: stopping (in-flight requests are recorded as cancelled; "
                "Ctrl-C again to quit at once)",
                err=True,
            )
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await run_sweep(
            target,
            prompts,
            loads,
            request,
            writer.sink,
            live,
            stop=stop,
            progress=progress,
            percentiles=percentiles,
            slo=slo,
            token_counter=counter,
            on_level=on_level,
        )

    loop = new_event_loop(settings.loop_kind)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        if scraper is not None:
            scraper.close()
        try:
            writer.finish(interrupted=stop.is_set())
        except OSError as exc:
            unwritten.append(f"run.json ({exc.strerror or exc})")
        if live is not None:
            live.close()
    if results:
        click.echo(format_summary_table([r.summary for r in results]))
    click.echo(f"results: {out_dir}")
    if writer.sink.error is not None:
        click.echo(write_failure_line(writer.sink.error, writer.sink.written, unwritten), err=True)
        return EXIT_WRITE_FAILED
    if unwritten:
        click.echo(f"loadgen: error: could not write {', '.join(unwritten)}", err=True)
        return EXIT_WRITE_FAILED
    if stop.is_set():
        return EXIT_INTERRUPTED
    verdict = error_verdict([r.summary for r in results], settings.max_error_rate)
    if verdict.message:
        click.echo(f"loadgen: {verdict.message}", err=True)
    return verdict.code


def write_failure_line(error: OSError, kept: int, unwritten: Sequence[str]) -> str:
    """The one line a run stopped by a failed write ends with: what failed and what is on disk."""
    lost = f"; not written: {', '.join(unwritten)}" if unwritten else ""
    return (
        f"loadgen: error: writing requests.jsonl failed ({error.strerror or error}): the run stopped; "
        f"{kept} whole records kept, no partial line{lost} (`loadgen report` rebuilds what is missing)"
    )
