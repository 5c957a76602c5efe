"""Every option of `loadgen run`, `loadgen compare`, `loadgen demo` and the locust integration, each
defined once: flag, default, help text and check (its click type).

Shared options come first, then the deliberate variants, each next to what it varies and saying why.
Light on purpose (click only): `--help` imports no tokenizer, numpy or runner. Defaults that the
runner API also has (`RequestOptions`, `Timeouts`) are read from there, not written again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, get_args

import click

from loadgen.exit_status import DEFAULT_MAX_ERROR_RATE
from loadgen.run_config import Api, ClientKind, RequestOptions, Timeouts
from loadgen.settings.option import OptionSpec
from servers.vllm.launch import DEFAULT_MAX_MODEL_LEN

APIS: tuple[str, ...] = get_args(Api)
CLIENTS: tuple[str, ...] = get_args(ClientKind)
WORKLOAD_KINDS = ("synthetic", "sharegpt", "jsonl")
LENGTH_FORMS = "fixed:N | uniform:LO,HI | exponential:MEAN[,MAX] | normal:MEAN,STD"
"""The length specs `loadgen.workloads.lengths` parses (its `FORMS`)."""

_REQUEST = RequestOptions()
_TIMEOUTS = Timeouts()
POSITIVE = click.FloatRange(min=0, min_open=True)
"""Seconds (or another amount) above 0."""


class NumberList(click.ParamType):  # type: ignore[type-arg]
    """Comma-separated numbers (`--concurrency 1,4,16`) as a tuple, each above `low` (with `high`: from
    `low` to `high`, both included); with `none_word`, `none` (or 0) is the empty tuple."""

    name = "list"

    def __init__(
        self,
        kind: type[int] | type[float],
        *,
        low: float = 0,
        high: float | None = None,
        none_word: bool = False,
    ) -> None:
        self.kind, self.low, self.high, self.none_word = kind, low, high, none_word

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The tuple of numbers; click's one-line error naming the option otherwise."""
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if self.none_word and text.lower() in ("none", "0"):
            return ()
        try:
            values = tuple(self.kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            self.fail(f"takes comma-separated numbers, got {text!r}", param, ctx)
        if not values:
            self.fail("needs at least one number", param, ctx)
        if not all(math.isfinite(v) for v in values):
            noun = f"finite {param.human_readable_name.lstrip('-')}" if param is not None else "finite number"
            self.fail(f"needs a {noun}, got {text!r}", param, ctx)
        if self.high is not None:
            if any(not self.low <= v <= self.high for v in values):
                self.fail(f"needs numbers from {self.low:g} to {self.high:g}, got {text!r}", param, ctx)
        elif any(not v > self.low for v in values):
            self.fail(f"needs numbers above {self.low:g}, got {text!r}", param, ctx)
        return values


class ChoiceList(click.ParamType):  # type: ignore[type-arg]
    """Comma-separated words from `choices` (`--variance-spreads fixed,exponential`) as a tuple in
    the order of `choices`, each once."""

    name = "list"

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The tuple of words; click's one-line error naming the option otherwise."""
        if isinstance(value, tuple):
            return value
        words = {part.strip() for part in str(value).split(",") if part.strip()}
        unknown = sorted(words - set(self.choices))
        if unknown or not words:
            self.fail(
                f"takes comma-separated words from {', '.join(self.choices)}, got {value!r}", param, ctx
            )
        return tuple(c for c in self.choices if c in words)


class JsonObject(click.ParamType):  # type: ignore[type-arg]
    """A JSON object given as text (`--extra-body '{"top_k": 5}'`), as a dict."""

    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The dict; click's one-line error for text that is not a JSON object."""
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"is not valid JSON ({exc.msg})", param, ctx)
        if not isinstance(parsed, dict):
            self.fail("must be a JSON object", param, ctx)
        return parsed


class HeaderLine(click.ParamType):  # type: ignore[type-arg]
    """An HTTP header given as `Name: value`, as the pair (name, value), both stripped."""

    name = "header"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The (name, value) pair; click's one-line error without a colon or a name."""
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition(":")
        if not sep or not name.strip():
            self.fail(f"takes 'Name: value', got {value!r}", param, ctx)
        return (name.strip(), text.strip())


def _check_dist(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> str | None:
    """Reject a length spec that cannot be sampled while the arguments are parsed (one line, exit 2)."""
    if value is None:
        return None
    from loadgen.workloads.lengths import parse_length_dist

    name = "--" + str(param.name).replace("_", "-") if param is not None else "length distribution"
    try:
        return parse_length_dist(value, name).spec
    except ValueError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[-1], ctx, param) from None


def spec(flags: str, dest: str | None = None, **settings: Any) -> OptionSpec:
    """An option spec; `dest` defaults to the flag's name (`--max-tokens` -> `max_tokens`)."""
    name = dest or flags.split("/")[0].lstrip("-").replace("-", "_")
    return OptionSpec(flags=(flags,), dest=name, **settings)


# ---- what every request asks for (run, compare, demo, locust) -------------------------------------
API = spec("--api", type=click.Choice(APIS), default=_REQUEST.api, help="Endpoint: `completions` or `chat`.")
MAX_TOKENS = spec(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=_REQUEST.max_tokens,
    help="Output length asked for when the prompt does not set one.",
)
N_CHOICES = spec(
    "--n",
    type=click.IntRange(min=1),
    default=_REQUEST.n,
    help="Choices per request (parallel sampling, at temperature 1); every choice's tokens count.",
)
IGNORE_EOS = spec(
    "--ignore-eos",
    is_flag=True,
    default=False,
    help="Ask the server to ignore EOS (vLLM) so lengths are exact.",
)
CONNECT_TIMEOUT = spec("--connect-timeout", type=POSITIVE, default=_TIMEOUTS.connect_s)
TTFT_TIMEOUT = spec(
    "--ttft-timeout",
    type=POSITIVE,
    default=_TIMEOUTS.ttft_s,
    help="Seconds a request may wait for its first token (queued behind a busy server, it hears nothing).",
)
IDLE_TIMEOUT = spec(
    "--idle-timeout",
    type=POSITIVE,
    default=_TIMEOUTS.idle_s,
    help="Longest silence once tokens flow (before the first token, --ttft-timeout governs).",
)
REQUEST_TIMEOUT = spec(
    "--request-timeout",
    type=POSITIVE,
    default=_TIMEOUTS.total_s,
    help="Seconds a whole request may take before it fails as `timeout`.",
)
CLIENT = spec("--client", "client_kind", type=click.Choice(CLIENTS), default=_REQUEST.client)
API_KEY_ENV = spec(
    "--api-key-env",
    default="OPENAI_API_KEY",
    help="Environment variable holding the API key sent to every target (if set).",
)
MODEL = spec("--model", help="Model name to request (default: the server's first model).")
TARGET_NAME = spec(
    "--target-name", help="Label for this target in results (default: the host:port, or 'sim')."
)

# ---- the workload (run, compare, demo, locust) ----------------------------------------------------
WORKLOAD = spec(
    "--workload",
    type=click.Choice(WORKLOAD_KINDS),
    help="Prompt source [default: jsonl with --dataset-path, else synthetic].",
)
DATASET_PATH = spec("--dataset-path", help="JSONL prompts file (jsonl) or ShareGPT JSON (sharegpt).")
INPUT_LEN_DIST = spec(
    "--input-len-dist",
    callback=_check_dist,
    help=f"Synthetic: input lengths drawn per prompt (seeded by --seed): {LENGTH_FORMS}.",
)
OUTPUT_LEN_DIST = spec(
    "--output-len-dist",
    callback=_check_dist,
    help=f"Synthetic: output lengths (max_tokens) drawn per prompt: {LENGTH_FORMS}.",
)
MAX_OUTPUT_LEN = spec(
    "--max-output-len",
    type=click.IntRange(min=1),
    help="Cap every prompt's output length (e.g. ShareGPT answers) at this many tokens.",
)
MIN_LEN = spec(
    "--min-len",
    type=click.IntRange(min=1),
    default=4,
    help="ShareGPT: skip conversations whose prompt or answer is shorter (tokens).",
)
MAX_PROMPT_LEN = spec(
    "--max-prompt-len",
    type=click.IntRange(min=1),
    default=1024,
    help="ShareGPT: skip conversations whose prompt is longer (tokens).",
)
MAX_TOTAL_LEN = spec(
    "--max-total-len",
    type=click.IntRange(min=1),
    default=2048,
    help="ShareGPT: skip conversations whose prompt plus answer is longer (tokens).",
)
MAX_ANSWER_LEN = spec(
    "--max-answer-len",
    type=click.IntRange(min=1),
    help="ShareGPT: skip conversations whose answer is longer (tokens; not in vLLM's filter).",
)
INPUT_LEN = spec(
    "--input-len", type=click.IntRange(min=1), default=128, help="Synthetic: prompt length in tokens."
)
TOKENIZER = spec("--tokenizer", help="tokenizer.json or model dir [default: the served model's directory].")
SEED = spec("--seed", type=click.INT, default=0, help="Seed of the schedule and workload.")

# ---- the load (run, compare, demo) ----------------------------------------------------------------
CONCURRENCY = spec(
    "--concurrency",
    type=NumberList(int),
    help="Closed loop: comma-separated concurrency levels, e.g. 1,4,16.",
)
RATE = spec(
    "--rate", type=NumberList(float), help="Open loop: comma-separated request rates (req/s), e.g. 1,2,4."
)


def load_mode(concurrency: object, rate: object) -> Literal["closed", "open"]:
    """The loop `--concurrency`/`--rate` ask for (closed unless `--rate`); a usage error for both."""
    if concurrency and rate:
        raise click.UsageError("use --concurrency (closed loop) or --rate (open loop), not both")
    return "open" if rate else "closed"


MAX_CONCURRENCY = spec(
    "--max-concurrency", type=click.IntRange(min=1), help="Open loop: cap on requests in flight."
)
ARRIVAL_CHOICES = click.Choice(["poisson", "constant", "gamma"])
NUM_REQUESTS = spec("--num-requests", type=click.IntRange(min=1), help="Measured requests per level.")
SLO = spec("--slo", multiple=True, help="Service-level objective, e.g. --slo ttft:500 --slo tpot:50 (ms).")
OUTPUT_DIR = spec(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory [default: results/<timestamp>].",
)
NO_PROGRESS = spec("--no-progress", is_flag=True, default=False, help="No progress line on stderr.")
MAX_ERROR_RATE = spec(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MAX_ERROR_RATE,
    help="Largest share of failed measured requests (per target) that still exits 0 (e.g. 0.01).",
)
SERVER_METRICS_INTERVAL = spec(
    "--server-metrics-interval",
    type=click.FloatRange(min=0),
    default=1.0,
    help="Seconds between scrapes of each server's /metrics during each level (0: off).",
)
GPU_MONITOR = spec(
    "--gpu-monitor",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    help="Sample the GPUs with nvidia-smi during each level and mark levels where the GPU was busy "
    "under half the time as host-bound [auto: when nvidia-smi is on PATH].",
)

# ---- `loadgen run` only ---------------------------------------------------------------------------
BASE_URL = spec("--base-url", help="Server base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is fine).")
SIM = spec(
    "--sim", is_flag=True, default=False, help="Start the embedded scripted server and run against it."
)
SIM_ARG = spec("--sim-arg", multiple=True, help="Argument for the scripted server, e.g. '--ttft-ms 50'.")
STREAM = spec("--stream/--no-stream", "stream", default=_REQUEST.stream)
MIN_TOKENS = spec("--min-tokens", type=click.IntRange(min=0), help="Minimum output tokens (vLLM).")
TEMPERATURE = spec("--temperature", type=click.FLOAT, default=_REQUEST.temperature)
SAMPLING_SEED = spec("--sampling-seed", type=click.INT, help="`seed` sent in each request body.")
NO_USAGE = spec(
    "--no-usage", is_flag=True, default=False, help="Do not ask for stream_options.include_usage."
)
EXTRA_BODY = spec("--extra-body", type=JsonObject(), help="JSON object merged into every request body.")
HEADER = spec(
    "--header", type=HeaderLine(), multiple=True, help="Extra request header 'Name: value' (repeatable)."
)
SAVE_TEXT = spec(
    "--save-text", is_flag=True, default=False, help="Keep each response's text in requests.jsonl."
)
NUM_PROMPTS = spec("--num-prompts", type=click.IntRange(min=1), default=256, help="Prompts to build.")
DURATION = spec("--duration", type=click.FloatRange(min=0, min_open=True), help="Measured seconds per level.")
PREOPEN = spec(
    "--preopen", type=click.IntRange(min=0), help="Connections to open first (default: the concurrency)."
)
LOOP = spec("--loop", "loop_kind", type=click.Choice(["auto", "uvloop", "asyncio"]), default="auto")
PERCENTILES = spec("--percentiles", type=NumberList(float, high=100), default="50,90,95,99")
METRICS_PORT = spec(
    "--metrics-port", type=click.IntRange(min=0, max=65535), help="Serve live Prometheus metrics here."
)
METRICS_HOST = spec("--metrics-host", default="127.0.0.1")

# ---- `loadgen compare` and `loadgen demo` only ----------------------------------------------------
LAUNCH = spec(
    "--launch",
    is_flag=True,
    default=False,
    help="Start vLLM and the HF server here (default model) and compare them.",
)
COMPARE_MODEL = MODEL.but(help="Model name to request from every target (skips the same-name check).")
MODEL_DIR = spec(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Model directory both servers serve (default: $SERVEBENCH_MODEL_DIR or "
    ".cache/models/SmolLM2-135M-Instruct).",
)
MAX_MODEL_LEN = spec("--max-model-len", type=click.IntRange(min=16), default=DEFAULT_MAX_MODEL_LEN)
DTYPE = spec("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]), default="bfloat16")
DEVICE = spec("--device", type=click.Choice(["cpu", "cuda"]), default="cpu")
RANDOM_WEIGHTS = spec(
    "--random-weights",
    is_flag=True,
    default=False,
    help="Random weights on both servers (vLLM --load-format dummy); skips the token-agreement gate.",
)
KV_CACHE_GIB = spec("--kv-cache-gib", type=click.IntRange(min=1), default=1, help="vLLM's KV cache on CPU.")
GPU_MEMORY_UTILIZATION = spec(
    "--gpu-memory-utilization",
    type=click.FloatRange(0, 1, min_open=True),
    help="vLLM's share of the GPU with --device cuda [default: 0.5, leaving room for the HF server].",
)
GPU_MEMORY_GIB = spec(
    "--gpu-memory-gib",
    type=click.FloatRange(0, min_open=True),
    help="The same GPU memory budget for both servers with --device cuda: vLLM's "
    "--gpu-memory-utilization sized to it, the HF server capped at it.",
)
VLLM_OVER_BUDGET = spec(
    "--vllm-over-budget",
    type=click.Choice(["restart", "keep"]),
    default="restart",
    help="With --gpu-memory-gib, when vLLM's own start-up account shows it above the memory it "
    "requested (vLLM 0.26 leaves its CUDA graphs out of the utilization): restart it with the "
    "--kv-cache-memory-bytes its log gives to fit, saved for its later starts; or keep it and report "
    "the excess.",
)
HF_MAX_BATCH_SIZE = spec("--hf-max-batch-size", type=click.IntRange(min=1), default=32)
HF_MAX_WAIT_MS = spec("--hf-max-wait-ms", type=click.FloatRange(min=0), default=10.0)
HF_BURST_GAP_MS = spec(
    "--hf-burst-gap-ms",
    type=click.FloatRange(min=0),
    default=10.0,
    help="The HF server's --burst-gap-ms: a batch still receiving a burst keeps filling until this gap.",
)
HF_CUDA_ALLOC_CONF = spec(
    "--hf-cuda-alloc-conf",
    help="PYTORCH_CUDA_ALLOC_CONF for the HF server alone with --device cuda, e.g. "
    "expandable_segments:True (a capped server then keeps less memory stranded by fragmentation); "
    "vLLM keeps its own allocator settings.",
)
START_TIMEOUT = spec(
    "--start-timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    help="Seconds each server gets to become healthy.",
)
REPEATS = spec(
    "--repeats",
    type=click.IntRange(min=1),
    default=1,
    help="Runs of each level on each target, interleaved (A B, B A, ...); the report gives 95% intervals.",
)
RERUN_CLIENT_BOUND = spec(
    "--rerun-client-bound",
    is_flag=True,
    default=False,
    help="Run a level once more when the load generator was the bottleneck (it stays out of the "
    "verdict if it is again).",
)
CAPACITY_SEARCH = spec(
    "--capacity-search",
    is_flag=True,
    default=False,
    help="Also find each server's highest rate with goodput >= 90% under the --slo limits.",
)
CAPACITY_MAX_RATE = spec(
    "--capacity-max-rate",
    type=POSITIVE,
    help="--capacity-search: highest rate tried, req/s [default: 64].",
)
CAPACITY_MIN_RATE = spec(
    "--capacity-min-rate",
    type=POSITIVE,
    help="--capacity-search: lowest rate tried, req/s; a server failing there is reported as below "
    "it [default: the max rate / 2^20].",
)
CAPACITY_STEPS = spec(
    "--capacity-steps",
    type=click.IntRange(min=1),
    help="--capacity-search: most probes per server [default: 12].",
)
MIN_REQUESTS = spec(
    "--min-requests",
    type=click.IntRange(min=1),
    default=8,
    help="Fewest measured requests of a level when --num-requests is not given (low concurrency "
    "levels otherwise hold only a few batches: too few for a run-to-run figure).",
)
OFFLINE_BATCHES = spec(
    "--offline-batches",
    type=NumberList(int, none_word=True),
    default="4,8,16,32",
    help="Fixed batch sizes sent at once after the sweep; 'none' to skip.",
)
BASELINE = spec("--baseline", help="Target the speed-ups are relative to [default: hf, else the last].")
PARITY = spec(
    "--parity",
    type=click.Choice(["gate", "report"]),
    default="gate",
    help="gate: stop before the sweep when the servers fail the parity probe; report: go on.",
)
PROBE_PROMPTS = spec(
    "--probe-prompts",
    type=click.IntRange(1, 8),
    default=8,
    help="Fixed prompts of the greedy parity probe.",
)
PROBE_TOKENS = spec(
    "--probe-tokens", type=click.IntRange(1), default=32, help="Tokens each parity-probe prompt asks for."
)
SWEEP = spec(
    "--sweep",
    type=click.Choice(["output-variance"]),
    help="output-variance: instead of the load sweep, one level per output-length spread (fixed, "
    "uniform, exponential; mean --output-len) at the first --concurrency.",
)
VARIANCE_SPREADS = spec(
    "--variance-spreads",
    type=ChoiceList(("fixed", "uniform", "exponential")),
    help="--sweep output-variance: the spreads to run, e.g. 'exponential' alone, so a sweep with "
    "many requests a level can be split over runs (benchmarks.claims reads the runs together) "
    "[default: all three].",
)
REALISTIC_CONCURRENCY, REALISTIC_REQUESTS = 8, 16
REALISTIC_MAX_ANSWER_LEN, REALISTIC_MAX_PROMPT_LEN = 64, 256
"""The demo's level of ShareGPT traffic (`CompareSettings.realistic_*`)."""
REALISTIC_LEVEL = spec(
    "--realistic-level/--no-realistic-level",
    "realistic_level",
    default=False,
    help="Add one level of ShareGPT traffic beside the synthetic sweep: "
    f"concurrency {REALISTIC_CONCURRENCY}, {REALISTIC_REQUESTS} requests, conversations with answers "
    f"of at most {REALISTIC_MAX_ANSWER_LEN} tokens and prompts of at most {REALISTIC_MAX_PROMPT_LEN}.",
)

# ---- deliberate differences between run and compare/demo, each with its reason --------------------
RUN_OUTPUT_LEN = spec(
    "--output-len", type=click.IntRange(min=1), help="Output tokens per prompt (default: --max-tokens)."
)
COMPARE_OUTPUT_LEN = RUN_OUTPUT_LEN.but(default=128, help="max_tokens of every request.")
"""compare has no --max-tokens: --output-len is every request's max_tokens, so it needs a value."""
RUN_N = N_CHOICES.but(
    help="Choices per request (parallel sampling; needs --temperature above 0). Every choice's tokens count."
)
"""run sends the user's --temperature (vLLM refuses n > 1 at 0); compare and locust sample at 1 for n > 1."""
COMPARE_IGNORE_EOS = spec(
    "--ignore-eos/--no-ignore-eos",
    "ignore_eos",
    default=True,
    help="Make every output exactly --output-len tokens long on every server.",
)
"""A comparison needs the same output lengths on every server; a single run measures what it is sent."""
RUN_ARRIVAL = spec("--arrival", type=ARRIVAL_CHOICES, default="poisson")
RUN_BURSTINESS = spec("--burstiness", type=POSITIVE, default=1.0, help="Gamma shape (1 = Poisson).")
COMPARE_ARRIVAL = RUN_ARRIVAL.but(
    default=None, help="Open loop (--rate): arrival process [default: poisson]."
)
COMPARE_BURSTINESS = RUN_BURSTINESS.but(
    default=None,
    help="--arrival gamma: shape of the gaps (1 = Poisson, lower is burstier) [default: 1].",
)
"""compare rejects --arrival/--burstiness that cannot apply (closed loop): it must see whether they
were given, so their defaults are applied later (`ComparePlan`)."""
RUN_WARMUP = spec("--warmup", type=click.IntRange(min=0), default=0, help="Warm-up requests per level.")
COMPARE_WARMUP = RUN_WARMUP.but(default=None, help="Warm-up requests per level [default: the concurrency].")
"""A comparison warms each server's batches up to the level's concurrency; a run sends what it is told."""
COMPARE_NUM_REQUESTS = NUM_REQUESTS.but(
    help="Measured requests per level [default: 4 per concurrency slot, at least --min-requests]."
)
RUN_TOKENIZER = TOKENIZER.but(
    help="tokenizer.json or model dir: prompt lengths, and output counts without usage."
)
COMPARE_CONCURRENCY = CONCURRENCY.but(help="Closed-loop levels, e.g. 1,4,16.")
COMPARE_RATE = RATE.but(help="Open-loop levels in requests/s, e.g. 1,2,4 (instead of --concurrency).")

# ---- locust (arguments that are also web UI fields; values arrive as text) -------------------------
LOCUST_MODEL = MODEL.but(help="Served model name sent in each request (env SERVEBENCH_MODEL).")
"""locust cannot ask the server before the first user starts: the default is the served default model."""
LOCUST_API_KEY = spec(
    "--api-key",
    help="Bearer token, if the server wants one (env OPENAI_API_KEY); never shown in the web UI.",
)
LOCUST_TARGET_NAME = TARGET_NAME.but(
    help="Label for records and the `target` metric label (default: the host)."
)
LOCUST_OUTPUT_LEN = RUN_OUTPUT_LEN.but(
    type=click.IntRange(min=0),
    default=128,
    help="Synthetic: output tokens per request; ShareGPT: override the answer length "
    "(0 keeps the dataset's).",
)
LOCUST_NUM_PROMPTS = NUM_PROMPTS.but(default=1000, help="Prompts to build (users cycle through them).")
"""A locust test runs until stopped: users cycle through more prompts than one run's level sends."""
LOCUST_TOKENIZER = TOKENIZER.but(
    help="tokenizer.json or model directory (synthetic, ShareGPT; env SERVEBENCH_MODEL_DIR)."
)
LOCUST_SEED = SEED.but(
    flags=("--workload-seed",),
    dest="workload_seed",
    type=click.IntRange(min=0),
    help="Seed for synthetic prompts and ShareGPT sampling.",
)
LOCUST_RESULTS_DIR = spec(
    "--results-dir",
    help="Write each test's requests.jsonl and summaries under DIR/<UTC time> "
    "(the format `loadgen report` reads).",
)
SWEEP_USERS = spec(
    "--sweep-users",
    type=NumberList(int),
    default="1,2,4,8,16,32,64,128,256",
    help="Comma-separated user counts, one sweep step each (env SERVEBENCH_SWEEP_USERS).",
)
"""sweep.py's steps: concurrency levels, checked as `loadgen run --concurrency` is."""
SWEEP_HOLD = spec(
    "--sweep-hold",
    type=POSITIVE,
    default=60.0,
    help="Seconds each step is held, spawning included (env SERVEBENCH_SWEEP_HOLD_S).",
)
