"""How far greedy decoding agrees with itself: the noise floor the parity gate's agreement is read against.

The compare's parity probe sends eight fixed prompts, 32 greedy tokens each, to both servers and
reports the mean common-prefix share. On random weights the next-token logits are nearly flat, so
rounding differences (another kernel, another batch shape, another precision) flip the arg-max and
the sequences part. This loads a model directory as the HF server does and decodes the same probe
prompts three ways with plain `generate`:

- each prompt alone (batch 1), the reference, in every `--dtypes` precision;
- all prompts in one left-padded batch, as the HF server batches them;

then prints the agreement of each against the first precision's batch-1 run, and the margin
between the two highest logits at each greedy step (how little it takes to flip a token). Where the
HF server agrees with itself across batch shapes about as often as with vLLM, the gap is numerical,
not a different model.

    python -m benchmarks.greedy_noise --model-dir DIR --device cuda --dtypes bfloat16,float32
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import table, write_result
from loadgen.compare.parity import PROBE_MAX_TOKENS, PROBE_PROMPTS, prefix_agreement

DTYPES = ("bfloat16", "float16", "float32")


def agreement(reference: Sequence[Sequence[int]], other: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Mean common-prefix share, first-token and exact matches of `other` against `reference`."""
    pairs = list(zip(reference, other, strict=True))
    return {
        "mean_prefix_agreement": float(np.mean([prefix_agreement(a, b) for a, b in pairs])),
        "first_token_matches": sum(1 for a, b in pairs if a[:1] == b[:1]),
        "exact_matches": sum(1 for a, b in pairs if list(a) == list(b)),
        "prompts": len(pairs),
    }


def decode(loaded: Any, prompts: Sequence[list[int]], max_tokens: int) -> tuple[list[list[int]], list[float]]:
    """Greedy `max_tokens` new tokens for `prompts` in one left-padded batch; the ids and the
    top-1 minus top-2 logit margin of every step of every row (padding rows' steps left out)."""
    import torch

    from servers.hf.loading import generation_config

    width = max(len(p) for p in prompts)
    pad = loaded.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=loaded.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=loaded.device)
    config = generation_config(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_tokens,
        min_new_tokens=max_tokens,
        pad_token_id=pad,
        output_logits=True,
        return_dict_in_generate=True,
    )
    with torch.inference_mode():
        out = loaded.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    new = out.sequences[:, width:].tolist()
    margins: list[float] = []
    for step in out.logits:
        top = torch.topk(step.float(), 2, dim=-1).values
        margins.extend((top[:, 0] - top[:, 1]).tolist())
    return new, margins


def run_precision(args: argparse.Namespace, dtype: str) -> dict[str, Any]:
    """Load the model in `dtype`, decode the probe prompts alone and batched, free the model."""
    import torch

    from servers.hf.loading import load_model
    from servers.hf.settings import ServerSettings

    loaded = load_model(
        ServerSettings(
            model_dir=args.model_dir.resolve(),
            served_model_name="greedy-noise",
            device=args.device,
            dtype=dtype,  # type: ignore[arg-type]  # argparse checked it against DTYPES
            sdpa_backend=args.sdpa_backend,
        )
    )
    prompts = [loaded.encode(text, add_special_tokens=True) for text in PROBE_PROMPTS]
    alone, margins = [], []
    for prompt in prompts:
        ids, step_margins = decode(loaded, [prompt], args.max_tokens)
        alone.append(ids[0])
        margins.extend(step_margins)
    batched, _ = decode(loaded, prompts, args.max_tokens)
    attention = loaded.attention.public()
    del loaded
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {"dtype": dtype, "alone": alone, "batched": batched, "margins": margins, "attention": attention}


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m benchmarks.greedy_noise`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument(
        "--dtypes", default="bfloat16,float32", help="Comma-separated; the first is the reference."
    )
    parser.add_argument("--max-tokens", type=int, default=PROBE_MAX_TOKENS)
    parser.add_argument(
        "--sdpa-backend", choices=("auto", "flash", "efficient", "cudnn", "math"), default="auto"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Decode the probe prompts per precision and batch shape; print the agreements and write JSON."""
    parser = build_parser()
    args = parser.parse_args(argv)
    dtypes = args.dtypes.split(",")
    unknown = sorted(set(dtypes) - set(DTYPES))
    if unknown:
        parser.error(f"--dtypes: {', '.join(unknown)} not among {', '.join(DTYPES)}")
    runs = [run_precision(args, dtype) for dtype in dtypes]
    reference = runs[0]
    rows: list[dict[str, Any]] = []
    for run in runs:
        if run is not reference:
            rows.append({"compared": f"{run['dtype']} alone vs {reference['dtype']} alone",
                         **agreement(reference["alone"], run["alone"])})  # fmt: skip
        rows.append({"compared": f"{run['dtype']} batched vs {reference['dtype']} alone",
                     **agreement(reference["alone"], run["batched"])})  # fmt: skip
    margins = np.asarray(reference["margins"])
    margin = {
        "steps": int(margins.size),
        "median": float(np.median(margins)),
        "p10": float(np.percentile(margins, 10)),
        "share_below_0_1": float(np.mean(margins < 0.1)),
    }
    print(
        table(
            ["compared", "mean prefix agreement", "first tokens", "identical outputs"],
            [
                [
                    r["compared"],
                    f"{100 * r['mean_prefix_agreement']:.0f}%",
                    f"{r['first_token_matches']}/{r['prompts']}",
                    f"{r['exact_matches']}/{r['prompts']}",
                ]
                for r in rows
            ],
        )
    )
    print(
        f"{reference['dtype']} top-1 minus top-2 logit over {margin['steps']} greedy steps: "
        f"median {margin['median']:.3f}, p10 {margin['p10']:.3f}, "
        f"{100 * margin['share_below_0_1']:.0f}% of steps below 0.1"
    )
    path = write_result(
        "greedy_noise",
        {
            "setup": {**vars(args), "model_dir": str(args.model_dir)},
            "rows": rows,
            "reference_margin": margin,
            "runs": [{k: v for k, v in run.items() if k != "margins"} for run in runs],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
