"""The published claims issues 11 and 12 re-measure, each with the metric that measures it.

The figures here are what the sources published (quoted in the issues), never measurements: the
measured figure comes from a run directory through `benchmarks.claims`. Setting texts say what our
run does in the claim's place; `benchmarks/gpu_host.sh claims|seeds` produces the run directories
named in docs/gpu-plan.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from benchmarks import claims as c


@dataclass(frozen=True)
class Claim:
    """A published claim and how to measure it."""

    issue: int
    id: str
    claim: str
    source: str
    setting: str
    claimed_low: float | None
    claimed_high: float | None
    unit: str
    metric: Callable[..., c.Measurement]
    """Called with the run directories (and `level=` when it takes one)."""
    runs: int = 1
    takes_level: bool = False
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)


ANNOUNCEMENT = "vLLM announcement (2023)"
ANYSCALE = "Anyscale continuous-batching study (2023)"
SHAREGPT = (
    "ShareGPT lengths (prompt <= 1024, prompt + output <= 2048 tokens), ignore_eos with each "
    "conversation's answer length, bf16, identical random weights, all requests at once"
)


def _catalog() -> list[Claim]:
    claims: list[Claim] = []
    for shape, gpu in (("7b", "A10G"), ("13b", "A100-40GB")):
        size = shape.upper()
        claims.append(
            Claim(
                11,
                f"vllm-hf-n1-{shape}",
                "vLLM 14–24x HF throughput, one completion per request",
                ANNOUNCEMENT,
                f"LLaMA-{size} shape, each server 90% of an {gpu}'s memory (theirs: one {gpu}); "
                f"{SHAREGPT}; n=1",
                14.0,
                24.0,
                "x",
                c.throughput_ratio,
                takes_level=True,
            )
        )
        claims.append(
            Claim(
                11,
                f"vllm-hf-n3-{shape}",
                "vLLM 8.5–15x HF throughput, three parallel completions",
                ANNOUNCEMENT,
                f"LLaMA-{size} shape, each server 90% of an {gpu}'s memory (theirs: one {gpu}); "
                f"{SHAREGPT}; n=3",
                8.5,
                15.0,
                "x",
                c.throughput_ratio,
                takes_level=True,
            )
        )
    claims += [
        Claim(
            11,
            "static-batching-variance",
            "up to 23x over naive static batching",
            ANYSCALE,
            "LLaMA-2-7B shape (theirs: 13B-class), fixed prompt, output lengths of growing spread at "
            "a fixed mean (loadgen compare --sweep output-variance); largest vLLM/HF ratio",
            None,
            23.0,
            "x",
            c.ratio_extremes,
            runs=0,  # the sweep's run, or its parts run apart (--variance-spreads)
        ),
        Claim(
            11,
            "static-batching-falls",
            "static batching's throughput falls as output-length variance grows",
            ANYSCALE,
            "same run: HF server tok/s at the widest spread over tok/s at fixed lengths",
            None,
            None,
            "x of fixed",
            partial(c.throughput_change, target="hf"),
            runs=0,
            notes="qualitative claim: below 1 means it fell",
        ),
    ]
    # Write-up 1: Llama-3.2-3B-Instruct, one L4, offline batches (transformers 4.47.1).
    published = {4: (2.32, 5.32), 8: (2.51, 7.24), 16: (3.01, 9.50), 32: (3.38, 12.90)}
    for batch, (vllm_s, hf_s) in published.items():
        claims += [
            Claim(
                12,
                f"l32-3b-vllm-b{batch}",
                f"vLLM finishes a batch of {batch} in {vllm_s} s",
                "Llama-3.2-3B write-up (L4)",
                f"Llama-3.2-3B shape, 20 GiB each (theirs: L4), batch {batch}, 128 in / 256 out",
                vllm_s,
                vllm_s,
                "s",
                partial(c.offline_seconds, batch=batch, target="vllm"),
            ),
            Claim(
                12,
                f"l32-3b-hf-b{batch}",
                f"HF finishes a batch of {batch} in {hf_s} s",
                "Llama-3.2-3B write-up (L4)",
                f"Llama-3.2-3B shape, 20 GiB each (theirs: L4), batch {batch}, 128 in / 256 out",
                hf_s,
                hf_s,
                "s",
                partial(c.offline_seconds, batch=batch, target="hf"),
            ),
        ]
        for out in (64, 256, 512):
            ratio = round(hf_s / vllm_s, 2)
            claims.append(
                Claim(
                    12,
                    f"l32-3b-ratio-b{batch}-o{out}",
                    f"vLLM is 2–4x faster on offline batches (theirs at batch {batch}: {ratio}x)",
                    "Llama-3.2-3B write-up (L4)",
                    f"Llama-3.2-3B shape, 20 GiB each (theirs: L4), batch {batch}, 128 in / {out} out "
                    "(theirs: lengths unstated)",
                    2.0,
                    4.0,
                    "x",
                    partial(c.offline_ratio, batch=batch),
                )
            )
    # Write-up 2: TinyLlama-1.1B-Chat on a T4, GSM8K.
    tiny = (
        "TinyLlama-1.1B shape, 13 GiB each, 128 in / 256 out, all requests at once "
        "(theirs: GSM8K test set, T4)"
    )
    for server, precision, toks, load in (
        ("vllm", "fp16", 1109, 119.6),
        ("vllm", "fp32", 365, 71.3),
        ("hf", "fp16", 385, 6.4),
        ("hf", "fp32", 314, 14.1),
    ):
        run_note = f"run dir: the {precision} run"
        claims += [
            Claim(
                12,
                f"tinyllama-{server}-{precision}-toks",
                f"{server} {precision.upper()} {toks:,} tok/s",
                "TinyLlama write-up (T4)",
                tiny,
                float(toks),
                float(toks),
                "tok/s",
                partial(c.target_throughput, target=server),
                takes_level=True,
                notes=run_note,
            ),
            Claim(
                12,
                f"tinyllama-{server}-{precision}-load",
                f"{server} {precision.upper()} loads in {load} s",
                "TinyLlama write-up (T4)",
                "launch to healthy (launch to first token in the notes)",
                load,
                load,
                "s",
                partial(c.load_time, target=server),
                notes=run_note,
            ),
        ]
    claims += [
        Claim(12, "tinyllama-fp16-ratio", "vLLM 2.88x HF in FP16", "TinyLlama write-up (T4)", tiny,
              2.88, 2.88, "x", c.throughput_ratio, takes_level=True),
        Claim(12, "tinyllama-agree-fp16", "accuracy 99.7% (vLLM) vs 99.9% (HF): same answers",
              "TinyLlama write-up (T4)", "greedy token agreement vLLM vs HF in fp16 on identical weights "
              "(8 prompts x 32 tokens; no task accuracy without real weights)", None, None, "% prefix",
              partial(c.agreement, target="vllm")),
        Claim(12, "tinyllama-agree-fp32", "accuracy 99.7% (vLLM) vs 99.9% (HF): same answers",
              "TinyLlama write-up (T4)", "greedy token agreement vLLM vs HF in fp32", None, None, "% prefix",
              partial(c.agreement, target="vllm")),
        Claim(12, "tinyllama-agree-vllm-fp16-fp32", "FP16 serves the same answers as FP32",
              "TinyLlama write-up (T4)", "vLLM's greedy outputs in fp16 vs fp32 (runs: fp16, fp32)",
              None, None, "% prefix", partial(c.cross_run_agreement, target="vllm"), runs=2),
        Claim(12, "tinyllama-agree-hf-fp16-fp32", "FP16 serves the same answers as FP32",
              "TinyLlama write-up (T4)", "the HF server's greedy outputs in fp16 vs fp32 (runs: fp16, fp32)",
              None, None, "% prefix", partial(c.cross_run_agreement, target="hf"), runs=2),
        # Write-up 3: Qwen2.5-7B on an RTX 3090 (24 GB).
        Claim(12, "qwen-concurrency-ratio", "vLLM supports 2–4x more concurrent requests in the same memory",
              "Qwen2.5-7B write-up (RTX 3090, 24 GB)", "Qwen2.5-7B shape, both servers capped at 24 GiB "
              "on one GPU, 512 in / 128 out; highest error-free concurrency, vLLM over HF", 2.0, 4.0, "x",
              c.clean_level_ratio, runs=0),  # the run, or several whose levels merge (a finer sweep)
        Claim(12, "qwen-hf-max-concurrency", "(HF's most concurrent requests in 24 GB)",
              "Qwen2.5-7B write-up (RTX 3090, 24 GB)", "same run: the HF server's highest error-free "
              "concurrency", None, None, "requests", c.hf_max_clean_level, runs=0),
        Claim(12, "qwen-vllm-max-concurrency", "(vLLM's most concurrent requests in 24 GB)",
              "Qwen2.5-7B write-up (RTX 3090, 24 GB)", "same run: vLLM's highest error-free concurrency",
              None, None, "requests", c.vllm_max_clean_level, runs=0),
        # Write-up 4: the 1.6-1.9x table, "5x more traffic", "up to 3.5x over TGI".
        Claim(12, "llama2-7b-toks-ratio", "vLLM 1.6–1.9x tok/s (GPT-3 6.7B, 13B, LLaMA-2 7B shapes)",
              "vLLM-vs-HF table write-up",
              "LLaMA-2-7B shape, 22 GiB each, ShareGPT lengths, closed loop, concurrency 64 "
              "(issue 11's sweep run)",
              1.6, 1.9, "x", c.throughput_ratio, takes_level=True),
        Claim(12, "llama2-7b-traffic", "5x more traffic on the same hardware", "vLLM-vs-HF table write-up",
              "LLaMA-2-7B shape, 22 GiB each, ShareGPT lengths: capacity at SLO (highest Poisson rate with "
              ">= 90% of requests within TTFT 2 s and TPOT 100 ms, over the range the notes give), vLLM "
              "over HF; a bound (>=) where a server failed at the lowest rate tried", 5.0, 5.0, "x",
              c.capacity_ratio),
        Claim(12, "tgi-3.5x", "up to 3.5x over TGI", "vLLM-vs-HF table write-up",
              "not measured: TGI is not in servebench's scope", None, 3.5, "x",
              lambda *runs, **_: c.Measurement(None, notes=["TGI is not in scope"]), runs=0),
    ]  # fmt: skip
    return claims


CATALOG: dict[str, Claim] = {claim.id: claim for claim in _catalog()}


POOLS_REPEATS = (c.throughput_ratio, c.target_throughput)
"""The metrics that read several runs of one setting as repeats of one run (`--repeat-run`)."""


def measure(
    claim: Claim, runs: Sequence[Path], level: str | None, note: str = "", repeats: Sequence[Path] = ()
) -> c.ClaimRow:
    """The `claims.json` row of `claim` measured from `runs`; `repeats` are more runs of the same
    setting (another lease), pooled with the one run as repeats where the metric allows."""
    if claim.runs and len(runs) != claim.runs:
        raise c.ClaimError(f"{claim.id} reads {claim.runs} run director{'y' if claim.runs == 1 else 'ies'}")
    metric = claim.metric.func if isinstance(claim.metric, partial) else claim.metric
    if repeats and (claim.runs != 1 or metric not in POOLS_REPEATS):
        raise c.ClaimError(f"{claim.id} cannot pool repeated runs: it reads {claim.runs} run(s) its own way")
    given: list[c.Runs] = [[runs[0], *repeats]] if repeats else list(runs)
    found = claim.metric(*given, level=level) if claim.takes_level else claim.metric(*given)
    notes = "; ".join(part for part in (claim.notes, *found.notes, note) if part)
    runs = [*runs, *repeats]
    gpus = sorted({gpu for run in runs for gpu in c.run_gpus(run)})
    return c.ClaimRow(
        issue=claim.issue,
        id=claim.id,
        claim=claim.claim,
        source=claim.source,
        setting=claim.setting + (f"; measured on {', '.join(gpus)}" if gpus else ""),
        claimed_low=claim.claimed_low,
        claimed_high=claim.claimed_high,
        measured=found.value,
        unit=claim.unit,
        ci95=found.ci95,
        notes=notes,
        run_dir=", ".join(str(r) for r in runs) or None,
        bound=found.bound,
    )
