"""HF server overhead: output tokens/s through the server versus calling `generate` directly.

For each batch size B, the same B prompts of exactly `--input-len` tokens ask for exactly
`--output-len` tokens (EOS ignored, greedy):

- **direct**: this process loads the model exactly as the server does and times `model.generate` on
  the batch; throughput = B x output-len / call time.
- **server**: an `hf-server` subprocess with `--max-batch-size B` on the same device and precision,
  sent one wave of B concurrent streamed completions (`ignore_eos`) by the load generator
  (`loadgen.runner.run_level`, closed loop at concurrency B, B requests); throughput = output tokens
  received / the wave's window (first send to last byte), which includes HTTP, tokenization, batch
  forming and SSE. Without `loadgen` (a GPU host lacks orjson) a minimal asyncio httpx client sends
  the wave, and the result says so.

Each side gets one warm-up, then each of `--rounds` rounds runs one direct call and one server wave
back to back (which goes first alternates), so a change in background load hits both sides of a round.

The ratio server/direct is the share of `generate`'s throughput the server delivers (target >= 95%);
the headline is the median over rounds of the ratio within a round, with throughputs as medians too.
Beside it, ms per decoding step on both sides: the direct call's time over its steps, and the median
step of the batches the server's generate loop ran in each wave (its `/batches` record, saved under
the log folder). A server whose generate loop steps as fast as the direct call but whose window is
longer loses its time delivering tokens (HTTP, detokenizing, SSE), not decoding them. And the number
of `generate` calls the server made for each wave: a wave that reached the server over longer than
the batch fill wait (`--max-wait-ms`) ran as two batches, one after the other, and then the window
measures batch forming, not per-step cost (on an H100 at batch 256 that halved the figure,
docs/results/gpu-h100-2026-12-05-hf-overhead). A full batch starts at once, so the default wait is
long: 2 s.

With `--in-process`, each round also runs the server's own generate loop in this process
(`GenerateRunner.run`: its per-step hook reads each step's tokens, detokenizes them and applies the
stop rules; the events go to a sink), with no engine process, pipe or HTTP. Direct call over it is
what the hook alone keeps of `generate`'s speed; set beside "generate loop / direct" (the server's
own batches), it tells the hook's cost from the cost of the processes around it.

    python -m benchmarks.hf_overhead [--batch-sizes 1,4,8,16,32] [--input-len 64] [--output-len 64]
    python -m benchmarks.hf_overhead --device cuda --random-weights --model-dir DIR_OF_LLAMA_1B_SHAPE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks._common import REPO, table, write_result
from loadgen.compare.server_batches import BatchCollector
from loadgen.launcher import free_port, start_process, wait_healthy
from loadgen.run_config import Target
from servers.vllm import launch

T = TypeVar("T")

DEFAULT_MODEL_DIR = REPO / launch.DEFAULT_MODEL_DIR
MODEL_NAME = "bench-model"


@dataclass(frozen=True)
class Setup:
    """What every measurement of a run shares."""

    model_dir: Path
    device: str
    dtype: str
    random_weights: bool
    attn_implementation: str | None
    sdpa_backend: str
    """The CUDA SDPA kernels both sides may use (`hf-server --sdpa-backend`)."""
    input_len: int
    output_len: int
    rounds: int
    max_wait_ms: float
    seed: int
    threads: int | None
    """torch intra-op threads on both sides (None: torch's default)."""
    server_args: tuple[str, ...] = ()
    """Extra `hf-server serve` arguments (an experiment's knob, e.g. `--gil-switch-interval-ms 0.5`)."""
    in_process: bool = False
    """Also time the server's own generate loop in this process (`InProcessLoop`), each round."""


@dataclass
class Row:
    """One batch size's figures: medians over the rounds (robust to bursts of other load)."""

    batch_size: int
    direct_tok_s: float
    """Median over rounds of the direct call's throughput."""
    server_tok_s: float
    """Median over rounds of the server wave's throughput."""
    ratio: float
    """Median over rounds of (server wave / direct call of the same round): the headline figure."""
    ratio_low: float
    ratio_high: float
    direct_call_s: list[float]
    server_window_s: list[float]
    server_tokens: list[int]
    server_failed: int
    driver: str
    direct_step_ms: list[float] = field(default_factory=list)
    """Each round's direct call over its output length: ms per decoding step, prefill included."""
    server_step_ms: list[float | None] = field(default_factory=list)
    """Each wave's decode ms per step as the server's generate loop saw it (the median step of the
    batch records it ran, `/batches`): beside `direct_step_ms` it tells a slow `generate` loop from a
    slow delivery of its tokens (HTTP, detokenizing, SSE), which only the window shows."""
    server_batches: list[int | None] = field(default_factory=list)
    """`generate` calls the server made for each wave. More than one: the wave reached the server
    over longer than `--max-wait-ms`, its batch closed before the last requests came and they ran in
    a second call, so the window measures batch forming, not the server's cost per step."""
    server_generate_s: list[float | None] = field(default_factory=list)
    """Each wave's time inside the server's `generate` calls (its batch records' durations). The
    round's direct call over it is the share of `generate`'s speed the server's generate loop kept
    (its per-step hook, the engine pipe); it over the window, the share the HTTP side kept
    (requests arriving, the first and last bytes)."""
    direct_decode_step_ms: list[float | None] = field(default_factory=list)
    """Each round's direct call's median decode step (prefill apart, `StepClock`): like for like
    with `server_step_ms`."""
    loop_call_s: list[float] = field(default_factory=list)
    """With `--in-process`: each round's time for the server's generate loop run in this process
    (`GenerateRunner.run`: its per-step hook, detokenizing, stop rules), no engine process or HTTP."""
    loop_decode_step_ms: list[float | None] = field(default_factory=list)
    """Its median decode step, from the runner's own step stamps (the server's batch records' clock)."""

    @property
    def generate_share(self) -> float | None:
        """Median over rounds of direct call time / the server's generate time."""
        pairs = [c / g for c, g in zip(self.direct_call_s, self.server_generate_s, strict=False) if g]
        return statistics.median(pairs) if pairs else None

    @property
    def delivery_share(self) -> float | None:
        """Median over rounds of the server's generate time / the wave's window."""
        pairs = [g / w for g, w in zip(self.server_generate_s, self.server_window_s, strict=False) if g and w]
        return statistics.median(pairs) if pairs else None

    @property
    def loop_share(self) -> float | None:
        """Median over rounds of direct call time / the in-process loop's time: what the server's
        per-step hook alone keeps of `generate`'s speed (None: not measured)."""
        pairs = [c / g for c, g in zip(self.direct_call_s, self.loop_call_s, strict=False) if g]
        return statistics.median(pairs) if pairs else None

    @property
    def split_waves(self) -> int:
        """Waves the server ran as more than one batch."""
        return sum(1 for b in self.server_batches if b is not None and b > 1)


def summarize(
    batch_size: int,
    output_len: int,
    calls: list[float],
    waves: list[ServerRun],
    driver: str,
    server_step_ms: list[float | None] | None = None,
    server_batches: list[int | None] | None = None,
    server_generate_s: list[float | None] | None = None,
    direct_decode_step_ms: list[float | None] | None = None,
    loop_call_s: list[float] | None = None,
    loop_decode_step_ms: list[float | None] | None = None,
) -> Row:
    """The row of one batch size from its rounds."""
    expected = batch_size * output_len
    direct_rates = [expected / c for c in calls]
    server_rates = [w.tokens / w.window_s if w.window_s > 0 else 0.0 for w in waves]
    ratios = [s / d for s, d in zip(server_rates, direct_rates, strict=True)]
    failed = sum(w.failed for w in waves) + sum(1 for w in waves if w.tokens != expected)
    return Row(
        batch_size,
        statistics.median(direct_rates),
        statistics.median(server_rates),
        statistics.median(ratios),
        min(ratios),
        max(ratios),
        calls,
        [w.window_s for w in waves],
        [w.tokens for w in waves],
        failed,
        driver,
        [c / output_len * 1e3 for c in calls],
        list(server_step_ms or []),
        list(server_batches or []),
        list(server_generate_s or []),
        list(direct_decode_step_ms or []),
        list(loop_call_s or []),
        list(loop_decode_step_ms or []),
    )


def server_batches(batches: BatchCollector, label: str) -> tuple[float | None, int | None, float | None]:
    """Of the batches the server ran since the last look: the median decode ms/step, how many there
    were, and their `generate` time in all (None each: the server keeps no batch records)."""
    seen = batches.collect("hf", label)
    if seen is None:
        return None, None, None
    return seen.get("decode_step_ms_p50"), int(seen.get("batches", 0)), seen.get("generate_s_total")


# --- prompts -------------------------------------------------------------------------------------


def exact_length_prompts(tokenizer: Any, count: int, length: int, seed: int) -> list[str]:
    """`count` texts that the tokenizer encodes (as the server does) to exactly `length` tokens."""
    backend = tokenizer.backend_tokenizer
    try:
        from loadgen.workloads.synthetic import exact_length_text

        rng = random.Random(seed)
        texts = [exact_length_text(backend, length, rng) for _ in range(count)]
    except ImportError:
        texts = [_fallback_text(backend, length, random.Random(seed + i)) for i in range(count)]
    for text in texts:
        assert len(backend.encode(text, add_special_tokens=True).ids) == length
    return texts


def _fallback_text(backend: Any, length: int, rng: random.Random) -> str:
    special = set(backend.get_added_tokens_decoder())
    vocab = [i for i in range(backend.get_vocab_size()) if i not in special]
    ids = rng.choices(vocab, k=length)
    for _ in range(64):
        text = backend.decode(ids)
        ids = backend.encode(text, add_special_tokens=True).ids
        if len(ids) == length and not special.intersection(ids):
            return str(text)
        ids = [i for i in ids if i not in special][:length]
        ids += rng.choices(vocab, k=length - len(ids))
    raise RuntimeError(f"could not build a {length}-token prompt")


# --- direct generate -----------------------------------------------------------------------------


def load_direct(setup: Setup) -> Any:
    """The model and tokenizer in this process, loaded exactly as the server loads them."""
    from servers.hf.loading import load_model
    from servers.hf.settings import ServerSettings

    return load_model(
        ServerSettings(
            model_dir=setup.model_dir,
            served_model_name=MODEL_NAME,
            device=setup.device,  # type: ignore[arg-type]
            dtype=setup.dtype,  # type: ignore[arg-type]
            attn_implementation=setup.attn_implementation,
            sdpa_backend=setup.sdpa_backend,  # type: ignore[arg-type]
            random_weights=setup.random_weights,
        )
    )


class StepClock:
    """A stopping criterion that never stops a row and notes when each step's tokens were seen.

    transformers calls it once per step, as it calls the server's own per-step hook, so the gaps
    between its stamps are the direct call's decode steps, measured like the server's batch records
    (prefill, the first stamp, apart).
    """

    def __init__(self) -> None:
        self.stamps_ns: list[int] = []
        self._never: Any = None
        """All-False, one per row: made at the first step (a `generate` call keeps its batch size)."""

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """Note the time; return "not done" for every row."""
        import torch

        self.stamps_ns.append(time.perf_counter_ns())
        if self._never is None:
            self._never = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return self._never

    def median_step_ms(self) -> float | None:
        """Median gap between successive steps, in ms (None: fewer than two steps)."""
        return median_gap_ms(self.stamps_ns)


def median_gap_ms(stamps_ns: Sequence[int]) -> float | None:
    """Median gap between successive step stamps, in ms (None: fewer than two stamps)."""
    gaps = [(b - a) / 1e6 for a, b in zip(stamps_ns, stamps_ns[1:], strict=False)]
    return statistics.median(gaps) if gaps else None


def timed(loaded: Any, call: Callable[[], T]) -> tuple[T, float]:
    """`call()` and its seconds, with the device synchronized before and after (CUDA work is
    asynchronous: without it the time would end before the GPU does)."""
    import torch

    cuda = loaded.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = call()
    if cuda:
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


class DirectGenerate:
    """Times `model.generate` on one batch, as the server would run it (greedy, no EOS, fixed length)."""

    def __init__(self, loaded: Any, prompts: Sequence[str], setup: Setup) -> None:
        from servers.hf.loading import generation_config

        self._loaded = loaded
        self._output_len = setup.output_len
        tokenizer = loaded.tokenizer
        tokenizer.padding_side = "left"
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=True)
        self._input_ids = batch["input_ids"].to(loaded.device)
        self._mask = batch["attention_mask"].to(loaded.device)
        loaded.model.generation_config = generation_config(pad_token_id=loaded.pad_token_id)  # no EOS
        self._config = generation_config(
            do_sample=False,
            num_beams=1,
            pad_token_id=loaded.pad_token_id,
            max_new_tokens=setup.output_len,
            use_cache=True,
        )
        self.decode_step_ms: list[float | None] = []
        """Each timed call's median decode step (`StepClock`), in call order."""

    def once(self) -> float:
        """Seconds for one `generate` call on the batch."""
        import torch
        from transformers import StoppingCriteriaList

        clock = StepClock()

        def call() -> Any:
            with torch.inference_mode():
                return self._loaded.model.generate(
                    input_ids=self._input_ids,
                    attention_mask=self._mask,
                    generation_config=self._config,
                    stopping_criteria=StoppingCriteriaList([clock]),
                )

        out, elapsed = timed(self._loaded, call)
        assert out.shape[1] - self._input_ids.shape[1] == self._output_len
        self.decode_step_ms.append(clock.median_step_ms())
        return elapsed


class InProcessLoop:
    """Times the server's own generate loop on the direct call's batch, in this process:
    `GenerateRunner.run` with its per-step hook (reading each step's tokens, detokenizing, stop rules,
    events to a sink that drops them), but no engine process, pipe or HTTP. Between the direct call
    and the server it tells the hook's cost from the cost of the processes around it."""

    def __init__(self, loaded: Any, prompts: Sequence[str], setup: Setup) -> None:
        from servers.hf.params import GenerationParams
        from servers.hf.runner import GenerateRunner

        self._loaded = loaded
        self._runner = GenerateRunner.for_model(loaded)
        # Tokenized as the server's completions handler does it.
        self._prompt_ids = [loaded.encode(p, add_special_tokens=True) for p in prompts]
        self._params = GenerationParams(max_tokens=setup.output_len, temperature=0.0, ignore_eos=True)
        self._output_len = setup.output_len
        self.decode_step_ms: list[float | None] = []

    def once(self) -> float:
        """Seconds for one run of the loop on the batch."""
        from servers.hf.request import Event, GenRequest

        batch = [GenRequest(list(ids), self._params) for ids in self._prompt_ids]
        tokens = 0

        def sink(events: list[tuple[GenRequest, Event]]) -> None:
            nonlocal tokens
            tokens += sum(getattr(event, "new_tokens", 0) for _, event in events)

        outcome, elapsed = timed(self._loaded, lambda: self._runner.run(batch, sink))
        if outcome.failed is not None:
            raise RuntimeError(f"the in-process generate loop failed: {outcome.failed}")
        assert tokens == len(batch) * self._output_len, tokens
        self.decode_step_ms.append(median_gap_ms(outcome.step_ns))
        return elapsed


# --- the server ----------------------------------------------------------------------------------


@contextmanager
def hf_server(setup: Setup, batch_size: int, log_path: Path) -> Iterator[str]:
    """An hf-server subprocess batching up to `batch_size`; yields its base URL."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "servers.hf",
        "serve",
        "--model-dir",
        str(setup.model_dir),
        "--port",
        str(port),
        "--served-model-name",
        MODEL_NAME,
        "--device",
        setup.device,
        "--dtype",
        setup.dtype,
        "--max-batch-size",
        str(batch_size),
        "--max-queue",
        str(max(batch_size, 256)),
        "--max-wait-ms",
        str(setup.max_wait_ms),
        "--sdpa-backend",
        setup.sdpa_backend,
    ]
    if setup.random_weights:
        args.append("--random-weights")
    if setup.attn_implementation:
        args += ["--attn-implementation", setup.attn_implementation]
    args += list(setup.server_args)
    env = {"OMP_NUM_THREADS": str(setup.threads)} if setup.threads is not None else {}
    url = f"http://127.0.0.1:{port}"
    with start_process(args, log_path, name="hf-server", env=env, cwd=REPO, grace_s=60) as server:
        wait_healthy(server, url + "/health", timeout_s=600)
        yield url


@dataclass
class ServerRun:
    """One wave of requests: output tokens received over the wave's window (first send to last byte)."""

    tokens: int
    window_s: float
    failed: int


Driver = Callable[[str, Sequence[str], Setup], ServerRun]


def wave_with_loadgen(url: str, prompts: Sequence[str], setup: Setup) -> ServerRun:
    """One wave of len(prompts) concurrent streamed requests through the project's load generator."""
    from loadgen.results import MemorySink
    from loadgen.run_config import LoadSpec, RequestOptions, Target
    from loadgen.runner import new_event_loop, run_level
    from loadgen.workloads.base import Prompt

    concurrency = len(prompts)
    load = LoadSpec(mode="closed", concurrency=concurrency, num_requests=concurrency, seed=setup.seed)
    options = RequestOptions(
        api="completions",
        stream=True,
        max_tokens=setup.output_len,
        ignore_eos=True,
        temperature=0.0,
        include_usage=True,
    )
    items = [Prompt(text=p, prompt_tokens=setup.input_len, output_tokens=setup.output_len) for p in prompts]
    loop = new_event_loop()
    try:
        result = loop.run_until_complete(
            run_level(Target("hf", url, MODEL_NAME), items, load, options, MemorySink())
        )
    finally:
        loop.close()
    summary = result.summary
    return ServerRun(int(summary["total_output_tokens"]), float(result.duration_s), int(summary["failed"]))


def wave_with_httpx(url: str, prompts: Sequence[str], setup: Setup) -> ServerRun:
    """The same wave with a minimal asyncio httpx client (for hosts without loadgen's dependencies)."""
    import httpx

    async def one(client: httpx.AsyncClient, prompt: str) -> tuple[int, float, float]:
        body = {
            "model": MODEL_NAME,
            "prompt": prompt,
            "max_tokens": setup.output_len,
            "ignore_eos": True,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        tokens = 0
        sent = time.perf_counter()
        async with client.stream("POST", "/v1/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"usage"' in line:
                    usage = json.loads(line[6:]).get("usage")
                    tokens = int(usage["completion_tokens"]) if usage else tokens
        return tokens, sent, time.perf_counter()

    async def run() -> ServerRun:
        limits = httpx.Limits(max_connections=len(prompts) + 4)
        async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as client:
            results = await asyncio.gather(*(one(client, p) for p in prompts), return_exceptions=True)
        ok = [r for r in results if isinstance(r, tuple)]
        if not ok:
            return ServerRun(0, 0.0, len(results))
        window = max(r[2] for r in ok) - min(r[1] for r in ok)
        return ServerRun(sum(r[0] for r in ok), window, len(results) - len(ok))

    return asyncio.run(run())


def pick_driver(name: str) -> tuple[Driver, str]:
    """`loadgen` when importable (or asked for), else the httpx fallback; with its description."""
    httpx_driver = (wave_with_httpx, "minimal asyncio httpx client")
    if name == "httpx":
        return httpx_driver
    try:
        import loadgen.runner  # noqa: F401
    except ImportError:
        if name == "loadgen":
            raise
        return httpx_driver
    return wave_with_loadgen, "loadgen.runner.run_level (fast client), closed loop"


# --- the run -------------------------------------------------------------------------------------


def measure(setup: Setup, batch_sizes: Sequence[int], driver_name: str, log_dir: Path) -> list[Row]:
    """Direct and served throughput for every batch size, round by round alternating the two."""
    drive, driver = pick_driver(driver_name)
    if setup.threads is not None:
        import torch

        torch.set_num_threads(setup.threads)
    loaded = load_direct(setup)
    rows: list[Row] = []
    for batch_size in batch_sizes:
        prompts = exact_length_prompts(loaded.tokenizer, batch_size, setup.input_len, setup.seed + batch_size)
        direct = DirectGenerate(loaded, prompts, setup)
        loop = InProcessLoop(loaded, prompts, setup) if setup.in_process else None
        with hf_server(setup, batch_size, log_dir / f"hf-server-b{batch_size}.log") as url:
            batches = BatchCollector([Target("hf", url, MODEL_NAME)], log_dir)
            direct.once()  # warm-up, every side
            direct.decode_step_ms.clear()
            if loop is not None:
                loop.once()
                loop.decode_step_ms.clear()
            drive(url, prompts, setup)
            server_batches(batches, f"b{batch_size}-warmup")
            calls: list[float] = []
            waves: list[ServerRun] = []
            steps: list[float | None] = []
            formed: list[int | None] = []
            generating: list[float | None] = []
            looped: list[float] = []
            for round_index in range(setup.rounds):
                if round_index % 2:  # alternate which side goes first
                    waves.append(drive(url, prompts, setup))
                    calls.append(direct.once())
                else:
                    calls.append(direct.once())
                    waves.append(drive(url, prompts, setup))
                if loop is not None:
                    looped.append(loop.once())
                step_ms, count, generate_s = server_batches(batches, f"b{batch_size}-round{round_index + 1}")
                steps.append(step_ms)
                formed.append(count)
                generating.append(generate_s)
        rows.append(
            summarize(
                batch_size,
                setup.output_len,
                calls,
                waves,
                driver,
                steps,
                formed,
                generating,
                direct.decode_step_ms,
                looped,
                loop.decode_step_ms if loop is not None else None,
            )
        )
        row = rows[-1]
        print(
            f"batch {batch_size:>3}: direct {row.direct_tok_s:9.1f} tok/s  "
            f"server {row.server_tok_s:9.1f} tok/s  ratio {row.ratio:6.1%} "
            f"(rounds {row.ratio_low:.0%}-{row.ratio_high:.0%})  failed {row.server_failed}  "
            f"split waves {row.split_waves}",
            flush=True,
        )
    return rows


def environment(setup: Setup) -> dict[str, Any]:
    """Versions and the accelerator, next to `machine()`."""
    import torch
    import transformers

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--dtype", choices=("auto", "bfloat16", "float16", "float32"), default="auto")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--attn-implementation")
    parser.add_argument(
        "--sdpa-backend",
        choices=("auto", "flash", "efficient", "cudnn", "math"),
        default="auto",
        help="CUDA SDPA kernels, the same on both sides (servers/hf/attention.py)",
    )
    parser.add_argument("--batch-sizes", default="1,4,8,16,32")
    parser.add_argument("--input-len", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="measured batches per batch size (each side)")
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=2000.0,
        help=(
            "the server's batch fill wait; a full batch starts at once, so a long wait costs nothing "
            "and lets a wave that reaches the server over tens of ms form one batch"
        ),
    )
    parser.add_argument("--driver", choices=("auto", "loadgen", "httpx"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads for both sides (OMP_NUM_THREADS for the server); 1 steadies a shared CPU box",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help=(
            "also time the server's generate loop in this process each round (its per-step hook, "
            "no engine process or HTTP): tells the hook's cost from the processes around it"
        ),
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra hf-server serve argument (repeatable), e.g. --server-arg=--warmup --server-arg=none",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print a table and write `results/benchmarks/hf_overhead-*.json`."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server subprocess is stopped
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    setup = Setup(
        args.model_dir.resolve(),
        args.device,
        args.dtype,
        args.random_weights,
        args.attn_implementation,
        args.sdpa_backend,
        args.input_len,
        args.output_len,
        args.rounds,
        args.max_wait_ms,
        args.seed,
        args.threads,
        tuple(args.server_arg),
        args.in_process,
    )
    log_dir = REPO / "results" / "benchmarks" / "hf_overhead-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = measure(setup, batch_sizes, args.driver, log_dir)
    print(
        table(
            [
                "batch",
                "direct tok/s",
                "server tok/s",
                "server/direct",
                "per-round range",
                "direct ms/step",
                "direct decode ms/step",
                "server generate ms/step",
                "server batches per wave",
                "generate loop / direct",
                "HTTP side",
                "in-process loop decode ms/step",
                "in-process loop / direct",
            ],
            [
                [
                    r.batch_size,
                    f"{r.direct_tok_s:,.1f}",
                    f"{r.server_tok_s:,.1f}",
                    f"{r.ratio:.1%}",
                    f"{r.ratio_low:.0%}-{r.ratio_high:.0%}",
                    ", ".join(f"{v:.1f}" for v in r.direct_step_ms),
                    ", ".join("-" if v is None else f"{v:.1f}" for v in r.direct_decode_step_ms),
                    ", ".join("-" if v is None else f"{v:.1f}" for v in r.server_step_ms),
                    ", ".join("-" if v is None else str(v) for v in r.server_batches),
                    "-" if r.generate_share is None else f"{r.generate_share:.1%}",
                    "-" if r.delivery_share is None else f"{r.delivery_share:.1%}",
                    ", ".join("-" if v is None else f"{v:.1f}" for v in r.loop_decode_step_ms) or "-",
                    "-" if r.loop_share is None else f"{r.loop_share:.1%}",
                ]
                for r in rows
            ],
        )
    )
    setup_dict = {**asdict(setup), "model_dir": str(setup.model_dir)}
    path = write_result(
        "hf_overhead",
        {
            "setup": setup_dict,
            "environment": environment(setup),
            "rows": [
                {
                    **asdict(r),
                    "split_waves": r.split_waves,
                    "generate_share": r.generate_share,
                    "delivery_share": r.delivery_share,
                    "loop_share": r.loop_share,
                }
                for r in rows
            ],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
