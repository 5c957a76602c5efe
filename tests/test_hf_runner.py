"""One batch through `GenerateRunner`: left padding and per-row settings do not change any row's output."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from servers.hf.params import GenerationParams
from servers.hf.request import Event, GenRequest, StepEvent
from servers.hf.runner import GenerateRunner

PROMPTS = ["The capital of France is", "Once upon a time, in a land far away, there lived a", "1, 2, 3,"]


@pytest.fixture(scope="module")
def runner(hf_loaded: Any) -> GenerateRunner:
    return GenerateRunner(
        hf_loaded.model, hf_loaded.backend, hf_loaded.pad_token_id, hf_loaded.eos_ids, hf_loaded.device
    )


def _run(runner: GenerateRunner, batch: list[GenRequest]) -> dict[int, str]:
    texts: dict[int, list[str]] = {r.request_id: [] for r in batch}

    def publish(events: list[tuple[GenRequest, Event]]) -> None:
        for request, event in events:
            assert isinstance(event, StepEvent)
            texts[request.request_id].append(event.text)

    outcome = runner.run(batch, publish)
    assert outcome.failed is None
    return {key: "".join(parts) for key, parts in texts.items()}


def _direct_greedy(loaded: Any, ids: list[int], max_new_tokens: int) -> str:
    with torch.inference_mode():
        out = loaded.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=loaded.pad_token_id,
        )
    return str(loaded.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True))


def test_a_left_padded_batch_gives_each_row_its_own_greedy_output(
    hf_loaded: Any, runner: GenerateRunner
) -> None:
    ids = [hf_loaded.encode(p, add_special_tokens=True) for p in PROMPTS]
    assert len({len(i) for i in ids}) == len(ids), "the prompts must differ in length to need padding"
    params = GenerationParams(max_tokens=8, temperature=0.0, ignore_eos=True)
    batch = [GenRequest(i, params) for i in ids]
    texts = _run(runner, batch)
    for request, prompt_ids in zip(batch, ids, strict=True):
        assert texts[request.request_id] == _direct_greedy(hf_loaded, prompt_ids, 8)


def test_rows_with_different_lengths_and_sampling_share_a_batch(
    hf_loaded: Any, runner: GenerateRunner
) -> None:
    ids = [hf_loaded.encode(p, add_special_tokens=True) for p in PROMPTS[:2]]
    greedy = GenRequest(ids[0], GenerationParams(max_tokens=3, temperature=0.0, ignore_eos=True))
    sampled = GenRequest(
        ids[1], GenerationParams(max_tokens=8, temperature=0.8, top_p=0.9, seed=11, ignore_eos=True)
    )
    texts = _run(runner, [greedy, sampled])
    assert texts[greedy.request_id] == _direct_greedy(hf_loaded, ids[0], 3)
    alone = GenRequest(ids[1], sampled.params)
    assert _run(runner, [alone])[alone.request_id] == texts[sampled.request_id]
