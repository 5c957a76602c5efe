"""Attention kernels and first calls: plain `generate` at a new batch shape, first call vs second.

With `--attn-implementation sdpa` PyTorch picks a CUDA attention kernel per call; on Hopper its first
choice is cuDNN attention, which builds a cuDNN graph for every new (batch, sequence length) shape.
Decoding makes a new length every step, so the first `generate` call at a new batch size pays a
graph build per step. This probe loads the model as the HF server does (`servers.hf.loading`, with
`--sdpa-backend`), then for each batch size times two identical greedy calls of `--output-len`
tokens on `--input-len`-token prompts: ms per decoding step, first and second. Run one process per
backend (the kernel switches and cuDNN's graph cache are process-wide).

    python -m benchmarks.sdpa_probe --device cuda --random-weights --model-dir DIR --sdpa-backend cudnn
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import table, write_result


def main(argv: Sequence[str] | None = None) -> None:
    """Time first and second calls per batch size; print a table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default="bfloat16")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument(
        "--sdpa-backend", choices=("auto", "flash", "efficient", "cudnn", "math"), default="auto"
    )
    parser.add_argument("--batch-sizes", default="8,32")
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=128)
    args = parser.parse_args(argv)

    import torch

    from servers.hf.loading import generation_config, load_model
    from servers.hf.settings import ServerSettings

    loaded = load_model(
        ServerSettings(
            model_dir=args.model_dir.resolve(),
            served_model_name="probe",
            device=args.device,
            dtype=args.dtype,
            random_weights=args.random_weights,
            sdpa_backend=args.sdpa_backend,
        )
    )
    loaded.model.generation_config = generation_config(pad_token_id=loaded.pad_token_id)
    config = generation_config(
        do_sample=False, num_beams=1, pad_token_id=loaded.pad_token_id, max_new_tokens=args.output_len
    )
    cuda = loaded.device.type == "cuda"

    def once(batch: int) -> float:
        ids = torch.randint(1, loaded.vocab_size - 1, (batch, args.input_len), device=loaded.device)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            loaded.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config
            )
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    rows = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        first, second = once(batch), once(batch)
        rows.append(
            {
                "batch": batch,
                "first_s": first,
                "second_s": second,
                "first_ms_per_step": first / args.output_len * 1e3,
                "second_ms_per_step": second / args.output_len * 1e3,
            }
        )
        print(f"batch {batch}: first {first:.2f} s, second {second:.2f} s", flush=True)
    print(
        table(
            ["batch", "first call s", "second call s", "first ms/step", "second ms/step"],
            [
                [
                    r["batch"],
                    f"{r['first_s']:.2f}",
                    f"{r['second_s']:.2f}",
                    f"{r['first_ms_per_step']:.1f}",
                    f"{r['second_ms_per_step']:.1f}",
                ]
                for r in rows
            ],
        )
    )
    attention = loaded.attention.public()
    print(f"attention: {attention}")
    path = write_result(
        f"sdpa_probe-{args.sdpa_backend}",
        {"setup": {**vars(args), "model_dir": str(args.model_dir)}, "attention": attention, "rows": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
