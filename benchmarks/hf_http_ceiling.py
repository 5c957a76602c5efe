"""The HF server's HTTP side alone: how many streamed tokens per second it delivers, and at what CPU cost.

On an H100 the server delivered 47% of a direct `generate` call's throughput at batch 256 while its
engine process was meant to decode as fast as `generate` (docs/results/gpu-h100-2026-12-05-hf-overhead).
This benchmark takes the model out of the question: the real server (`servers.hf.serve.run`, process
engine, real tokenizer, real detokenization, batcher, metrics, SSE) runs over a **paced engine**, a
stand-in for the model whose `generate` produces one token per row every `--step-ms` milliseconds
(real text token ids) and calls the server's own stopping criterion, exactly as transformers'
`generate` does. So the engine's pace is known, and what the clients receive shows how much of it
the HTTP side can deliver.

For each batch size B: an HTTP server batching up to B; one warm-up wave, then `--rounds` waves of B
concurrent streamed completions of `--output-len` tokens (EOS ignored) from the project's load
generator (fast client) in this process. Per wave:

- delivered tok/s = output tokens received / the wave's window (first send to last byte);
- paced tok/s = B / step time: what a server that adds nothing would deliver during decoding;
- the engine's own median step (its `/batches` record): above `--step-ms` when the engine process
  itself is held up (pickling, detokenizing, the GIL);
- CPU microseconds per delivered token of the HTTP process and of the engine process (`/proc`).

The CPU figures are this machine's: compare them only with runs on the same machine, back to back.

    python -m benchmarks.hf_http_ceiling [--batch-sizes 64,256] [--step-ms 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import torch

from benchmarks._common import REPO, machine, proc_cpu_s, process_cpu_clock_s, table, write_result
from benchmarks.hf_overhead import MODEL_NAME, Setup, exact_length_prompts, wave_with_loadgen
from benchmarks.hf_step_cost import TEXT
from loadgen.compare.server_batches import BatchCollector
from loadgen.launcher import free_port, start_process, wait_healthy
from loadgen.run_config import Target
from servers.vllm import launch

DEFAULT_MODEL_DIR = REPO / launch.DEFAULT_MODEL_DIR
STEP_ENV = "SERVEBENCH_PACED_STEP_MS"


class PacedModel:
    """Stands in for a causal LM inside `servers.hf.runner.GenerateRunner`: `generate` yields one token
    per row every `step_s` seconds (the first after one step, as prefill) and calls the stopping
    criterion after each, as transformers' `generate` does, until it says every row is done."""

    def __init__(self, step_s: float, token_ids: list[int]) -> None:
        self.generation_config: Any = None
        self._step_s = step_s
        self._ids = token_ids

    def generate(
        self, *, input_ids: torch.Tensor, generation_config: Any, stopping_criteria: Any, **_: Any
    ) -> None:
        """Run the paced decoding loop for `input_ids`' rows."""
        rows = int(input_ids.shape[0])
        criterion = stopping_criteria[0]
        ids, span = self._ids, len(self._ids)
        start = time.perf_counter()
        for step in range(int(generation_config.max_new_tokens)):
            column = torch.tensor([[ids[(row * 7 + step) % span]] for row in range(rows)], dtype=torch.long)
            wait = start + (step + 1) * self._step_s - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if bool(criterion(column, None).all()):
                return


def paced_engine_main(settings: Any, commands: Connection, events: Connection) -> None:
    """The engine process over a `PacedModel` (the tokenizer and model facts are the real ones)."""
    from servers.hf.engine import serve_batches
    from servers.hf.loading import load_model
    from servers.hf.runner import GenerateRunner

    loaded = load_model(settings)
    token_ids = loaded.tokenizer.encode(TEXT * 8, add_special_tokens=False)
    paced = replace(loaded, model=PacedModel(float(os.environ[STEP_ENV]) / 1e3, token_ids))
    serve_batches(paced, GenerateRunner.for_model(paced), None, commands, events)


def serve(model_dir: Path, port: int, max_batch_size: int, max_wait_ms: float, burst_gap_ms: float) -> None:
    """The real HF server (process engine) over the paced engine; runs until a shutdown signal."""
    from servers.hf.serve import run
    from servers.hf.settings import BatchingSettings, ServerSettings

    settings = ServerSettings(
        model_dir=model_dir.resolve(),
        served_model_name=MODEL_NAME,
        port=port,
        device="cpu",
        random_weights=True,
        warmup_batch_sizes=(),
        engine="process",
        batching=BatchingSettings(max_batch_size, max_wait_ms, max(max_batch_size, 256), burst_gap_ms),
    )
    run(settings, engine_main=paced_engine_main)


@dataclass
class Wave:
    """One wave's figures."""

    delivered_tok_s: float
    window_s: float
    tokens: int
    failed: int
    engine_step_ms: float | None
    batches: int
    """`generate` calls the server made for the wave (more than one: the wave was split)."""
    http_cpu_us_per_token: float
    engine_cpu_us_per_token: float


def cpu_seconds(pid: int) -> float:
    """CPU seconds of server process `pid` so far, to the nanosecond (`process_cpu_clock_s`; else
    `proc_cpu_s`'s 10 ms ticks, which read a short wave's HTTP CPU as 0); an error if it has gone."""
    used = process_cpu_clock_s(pid)
    if used is None:
        used = proc_cpu_s(pid)
    if used is None:
        raise RuntimeError(f"server process {pid} has gone; see the logs in results/benchmarks/")
    return used


@contextmanager
def paced_server(
    model_dir: Path, batch_size: int, step_ms: float, max_wait_ms: float, burst_gap_ms: float, log_path: Path
) -> Iterator[tuple[str, int, int]]:
    """The paced server subprocess; yields its URL, its pid and its engine's pid."""
    port = free_port()
    args = [sys.executable, "-m", "benchmarks.hf_http_ceiling", "serve", "--model-dir", str(model_dir)]
    args += ["--port", str(port), "--max-batch-size", str(batch_size), "--max-wait-ms", str(max_wait_ms)]
    args += ["--burst-gap-ms", str(burst_gap_ms)]
    url = f"http://127.0.0.1:{port}"
    with start_process(args, log_path, name="hf-server", env={STEP_ENV: str(step_ms)}, cwd=REPO) as server:
        wait_healthy(server, url + "/health", timeout_s=300)
        engine_pid = int(httpx.get(url + "/config").json()["engine_pid"])
        yield url, server.pid, engine_pid


def measure(args: argparse.Namespace, log_dir: Path) -> list[dict[str, Any]]:
    """Every batch size's waves, summarised."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    rows: list[dict[str, Any]] = []
    for batch_size in args.batch_sizes:
        setup = Setup(
            model_dir=args.model_dir,
            device="cpu",
            dtype="auto",
            random_weights=True,
            attn_implementation=None,
            sdpa_backend="auto",
            input_len=args.input_len,
            output_len=args.output_len,
            rounds=args.rounds,
            max_wait_ms=args.max_wait_ms,
            seed=args.seed,
            threads=None,
        )
        prompts = exact_length_prompts(tokenizer, batch_size, args.input_len, args.seed + batch_size)
        log_path = log_dir / f"server-b{batch_size}.log"
        with paced_server(
            args.model_dir, batch_size, args.step_ms, args.max_wait_ms, args.burst_gap_ms, log_path
        ) as (url, http_pid, engine_pid):
            batches = BatchCollector([Target("hf", url, MODEL_NAME)], log_dir)
            wave_with_loadgen(url, prompts, setup)  # warm-up
            batches.collect("hf", f"b{batch_size}-warmup")
            waves: list[Wave] = []
            for index in range(args.rounds):
                http_before, engine_before = cpu_seconds(http_pid), cpu_seconds(engine_pid)
                run = wave_with_loadgen(url, prompts, setup)
                http_used = cpu_seconds(http_pid) - http_before
                engine_used = cpu_seconds(engine_pid) - engine_before
                tokens = max(run.tokens, 1)
                formed = batches.collect("hf", f"b{batch_size}-round{index + 1}") or {}
                waves.append(
                    Wave(
                        run.tokens / run.window_s if run.window_s > 0 else 0.0,
                        run.window_s,
                        run.tokens,
                        run.failed,
                        formed.get("decode_step_ms_p50"),
                        int(formed.get("batches", 0)),
                        http_used / tokens * 1e6,
                        engine_used / tokens * 1e6,
                    )
                )
        paced = batch_size / (args.step_ms / 1e3)
        delivered = statistics.median(w.delivered_tok_s for w in waves)
        steps = [w.engine_step_ms for w in waves if w.engine_step_ms is not None]
        rows.append(
            {
                "batch_size": batch_size,
                "step_ms": args.step_ms,
                "max_wait_ms": args.max_wait_ms,
                "burst_gap_ms": args.burst_gap_ms,
                "paced_tok_s": paced,
                "delivered_tok_s": delivered,
                "delivered_share": delivered / paced,
                "engine_step_ms": statistics.median(steps) if steps else None,
                "http_cpu_us_per_token": statistics.median(w.http_cpu_us_per_token for w in waves),
                "engine_cpu_us_per_token": statistics.median(w.engine_cpu_us_per_token for w in waves),
                "failed": sum(w.failed for w in waves),
                "split_waves": sum(1 for w in waves if w.batches > 1),
                "waves": [asdict(w) for w in waves],
            }
        )
        row = rows[-1]
        print(
            f"batch {batch_size:>3}: paced {paced:8.0f} tok/s  delivered {delivered:8.0f} tok/s "
            f"({row['delivered_share']:.0%})  HTTP CPU {row['http_cpu_us_per_token']:.1f} us/token",
            flush=True,
        )
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (`serve ...` runs the server subprocess)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="tokenizer and config")
    parser.add_argument("--batch-sizes", type=lambda v: [int(x) for x in v.split(",")], default=[64, 256])
    parser.add_argument("--step-ms", type=float, default=20.0, help="the paced engine's time per step")
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=2000.0,
        help="the server's batch fill wait (a full batch starts at once: long, so a wave forms one batch)",
    )
    parser.add_argument(
        "--burst-gap-ms",
        type=float,
        default=10.0,
        help="the server's --burst-gap-ms (0: the batch closes when the fill wait ends, burst or not)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="suffix of the result file's name")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print the table and write the JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        serve_parser = argparse.ArgumentParser(prog="hf_http_ceiling serve")
        serve_parser.add_argument("--model-dir", type=Path, required=True)
        serve_parser.add_argument("--port", type=int, required=True)
        serve_parser.add_argument("--max-batch-size", type=int, required=True)
        serve_parser.add_argument("--max-wait-ms", type=float, required=True)
        serve_parser.add_argument("--burst-gap-ms", type=float, required=True)
        options = serve_parser.parse_args(argv[1:])
        serve(
            options.model_dir, options.port, options.max_batch_size, options.max_wait_ms, options.burst_gap_ms
        )
        return
    args = parse_args(argv)
    if not (args.model_dir / "tokenizer.json").is_file():
        sys.exit(f"error: {args.model_dir} has no tokenizer.json; run 'make model' first")
    log_dir = REPO / "results" / "benchmarks" / "hf_http_ceiling-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = measure(args, log_dir)
    print(
        table(
            [
                "batch",
                "step ms",
                "paced tok/s",
                "delivered tok/s",
                "share",
                "engine step ms",
                "HTTP CPU us/tok",
                "engine CPU us/tok",
                "split waves",
                "failed",
            ],
            [
                [
                    r["batch_size"],
                    r["step_ms"],
                    f"{r['paced_tok_s']:.0f}",
                    f"{r['delivered_tok_s']:.0f}",
                    f"{r['delivered_share']:.1%}",
                    "-" if r["engine_step_ms"] is None else f"{r['engine_step_ms']:.1f}",
                    f"{r['http_cpu_us_per_token']:.1f}",
                    f"{r['engine_cpu_us_per_token']:.1f}",
                    f"{r['split_waves']}/{len(r['waves'])}",
                    r["failed"],
                ]
                for r in rows
            ],
        )
    )
    path = write_result(
        "hf_http_ceiling" + args.tag,
        {
            "command": " ".join(["python -m benchmarks.hf_http_ceiling", *argv]),
            "machine": machine(),
            "rows": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
