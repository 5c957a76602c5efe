"""HF server per-step CPU cost: microseconds of generate-thread Python work per row per decoding step.

Builds the stopping criterion the server passes to `generate` (`servers.hf.stepper.BatchStepper` over
`servers.hf.rows.RowState` rows, detokenizing with the real SmolLM2 tokenizer) for a batch of
`--rows` rows and calls it once per step for `--steps` steps with a precomputed `input_ids` tensor,
exactly as `generate` would (the new tokens in the last column). `publish` only keeps the events, so
the figure is the generate thread's own work: token extraction, detokenization, stop checks, event
objects. No model runs. Two token streams:

- **random**: uniformly random non-special vocabulary ids (many byte-level pieces, so many
  incomplete characters held back);
- **text**: real text token ids (English with some multi-byte words), each row a different window.

Each (tokens, detokenizer) pair runs `--rounds` times; the table shows the median and the best round.
`detokenizer` is each of `servers.hf.detokenize`'s ways that applies to the tokenizer: `byte-level`
(per-token byte table + incremental UTF-8 decoder, what the server uses for this tokenizer), `stream`
(`tokenizers.decoders.DecodeStream`) and `window` (two `decode` calls per step, the fallback).

    python -m benchmarks.hf_step_cost [--rows 32] [--steps 128] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from benchmarks._common import REPO, table, write_result
from loadgen.errors import ConfigError
from loadgen.workloads.tokenizer import load_tokenizer
from servers.hf import detokenize
from servers.hf.params import GenerationParams
from servers.hf.request import Event, GenRequest
from servers.hf.rows import RowState
from servers.hf.stepper import BatchStepper
from servers.vllm import launch

DEFAULT_MODEL_DIR = REPO / launch.DEFAULT_MODEL_DIR
PROMPT_LEN = 128
TEXT = (
    "The quick brown fox jumps over the lazy dog while the server streams tokens to many clients. "
    "Naïve café owners in São Paulo serve crème brûlée; 東京の天気は晴れです。 Emoji 🙂🎉 appear too. "
    "Throughput, latency and time to first token are measured for every request, then summarised. "
)


def _token_streams(tokenizer: Tokenizer, rows: int, length: int, seed: int) -> dict[str, list[list[int]]]:
    rng = random.Random(seed)
    special = {int(i) for i in tokenizer.get_added_tokens_decoder()}
    vocab = [i for i in range(tokenizer.get_vocab_size()) if i not in special]
    text_ids = tokenizer.encode(TEXT * (2 + length // 40), add_special_tokens=False).ids
    windows = len(text_ids) - length
    return {
        "random": [[rng.choice(vocab) for _ in range(length)] for _ in range(rows)],
        "text": [text_ids[(r * 37) % windows :][:length] for r in range(rows)],
    }


Factory = Callable[[Tokenizer, list[int]], detokenize.Detokenizer]


def _factories(tokenizer: Tokenizer) -> dict[str, Factory]:
    factories: dict[str, Factory] = {}
    table = detokenize.byte_table(tokenizer)
    if table is not None:
        factories["byte-level"] = lambda _tok, _prompt: detokenize.ByteLevelDetokenizer(table)
    if detokenize.stream_available(tokenizer):
        factories["stream"] = detokenize.StreamDetokenizer
    factories["window"] = detokenize.WindowDetokenizer
    return factories


def _time_batch(
    tokenizer: Tokenizer, prompts: list[list[int]], generated: list[list[int]], factory: Factory
) -> float:
    """Seconds spent inside the stepper over all steps of one batch."""
    steps = len(generated[0])
    params = GenerationParams(max_tokens=steps, temperature=0.0, ignore_eos=True)
    rows = [RowState(GenRequest(list(p), params), tokenizer, frozenset({2})) for p in prompts]
    for row in rows:
        row._detok = factory(tokenizer, row.request.prompt_ids)  # noqa: SLF001
    published: list[list[tuple[GenRequest, Event]]] = []
    stepper = BatchStepper(rows, published.append, torch.device("cpu"))
    full = torch.tensor([p + g for p, g in zip(prompts, generated, strict=True)], dtype=torch.long)
    views = [full[:, : PROMPT_LEN + s + 1] for s in range(steps)]
    scores = torch.zeros(len(rows), 1)
    call: Callable[..., Any] = stepper.__call__
    start = time.perf_counter()
    for view in views:
        call(view, scores)
    elapsed = time.perf_counter() - start
    if not all(row.done for row in rows):
        raise RuntimeError("not every row finished at max_tokens")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    """Run the microbenchmark, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.rows < 1 or args.steps < 1 or args.rounds < 1:
        parser.error("--rows, --steps and --rounds must be >= 1")
    try:
        tokenizer = load_tokenizer(args.model_dir)
    except ConfigError as exc:
        parser.error(str(exc))
    torch.set_num_threads(1)
    streams = _token_streams(tokenizer, args.rows, args.steps, args.seed)
    prompt_ids = tokenizer.encode(TEXT * 8, add_special_tokens=False).ids[:PROMPT_LEN]
    prompts = [prompt_ids] * args.rows
    factories = _factories(tokenizer)
    results: list[dict[str, Any]] = []
    for name, generated in streams.items():
        for mode, factory in factories.items():
            _time_batch(tokenizer, prompts, generated, factory)  # warm-up
            per_row_step = [
                _time_batch(tokenizer, prompts, generated, factory) / (args.rows * args.steps) * 1e6
                for _ in range(args.rounds)
            ]
            results.append(
                {
                    "tokens": name,
                    "detokenizer": mode,
                    "us_per_row_step_median": statistics.median(per_row_step),
                    "us_per_row_step_min": min(per_row_step),
                    "rounds_us": per_row_step,
                }
            )
    print(
        table(
            ["tokens", "detokenizer", "µs/row/step (median)", "µs/row/step (min)"],
            [
                [r["tokens"], r["detokenizer"], r["us_per_row_step_median"], r["us_per_row_step_min"]]
                for r in results
            ],
        )
    )
    path = write_result(
        "hf_step_cost",
        {
            "rows": args.rows,
            "steps": args.steps,
            "rounds": args.rounds,
            "prompt_len": PROMPT_LEN,
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
