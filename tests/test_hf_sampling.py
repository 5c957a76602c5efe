"""The HF server's per-row sampler: each row of one greedy `generate` call gets its own sampling settings."""

from __future__ import annotations

import torch

from servers.hf.params import GenerationParams
from servers.hf.request import GenRequest
from servers.hf.rows import RowState
from servers.hf.sampling import RowSampler

VOCAB = 64
EOS = 2


class _NoText:
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return ""


def _sampler(*params: GenerationParams) -> tuple[RowSampler, list[RowState]]:
    rows = [RowState(GenRequest([1], p), _NoText(), frozenset({EOS})) for p in params]
    return RowSampler(rows, frozenset({EOS}), torch.device("cpu")), rows


def _logits(rows: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, VOCAB, generator=generator)


def _picked(scores: torch.Tensor) -> list[int]:
    return [int(i) for i in scores.argmax(dim=-1)]


def test_an_all_greedy_batch_needs_no_processor() -> None:
    sampler, _ = _sampler(GenerationParams(max_tokens=4, temperature=0.0))
    assert not sampler.needed


def test_greedy_rows_pass_through_untouched() -> None:
    sampler, _ = _sampler(
        GenerationParams(max_tokens=4, temperature=0.0),
        GenerationParams(max_tokens=4, temperature=1.0, seed=3),
    )
    logits = _logits(2)
    out = sampler(torch.zeros(2, 1, dtype=torch.long), logits.clone())
    assert torch.equal(out[0], logits[0])
    assert torch.isfinite(out[1]).sum() == 1


def test_a_seeded_row_draws_the_same_tokens_whatever_its_neighbours() -> None:
    alone, _ = _sampler(GenerationParams(max_tokens=4, temperature=1.0, seed=7))
    crowded, _ = _sampler(
        GenerationParams(max_tokens=4, temperature=0.9, top_p=0.5),
        GenerationParams(max_tokens=4, temperature=1.0, seed=7),
    )
    alone_tokens, crowded_tokens = [], []
    for step in range(20):
        logits = _logits(2, seed=step)
        alone_tokens += _picked(alone(torch.zeros(1, 1, dtype=torch.long), logits[1:].clone()))
        crowded_tokens.append(_picked(crowded(torch.zeros(2, 1, dtype=torch.long), logits.clone()))[1])
    assert alone_tokens == crowded_tokens
    assert len(set(alone_tokens)) > 1, "a temperature-1 row should not always pick the same token"


def test_top_k_one_is_greedy() -> None:
    sampler, _ = _sampler(GenerationParams(max_tokens=4, temperature=1.5, top_k=1))
    for step in range(10):
        logits = _logits(1, seed=step)
        assert _picked(sampler(torch.zeros(1, 1, dtype=torch.long), logits.clone())) == _picked(logits)


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = torch.full((1, VOCAB), -10.0)
    logits[0, 5] = 5.0  # ~all of the probability mass
    logits[0, 9] = 4.0
    sampler, _ = _sampler(GenerationParams(max_tokens=4, temperature=1.0, top_p=0.5))
    picks = {_picked(sampler(torch.zeros(1, 1, dtype=torch.long), logits.clone()))[0] for _ in range(30)}
    assert picks == {5}


def test_min_tokens_blocks_eos_until_reached() -> None:
    sampler, rows = _sampler(GenerationParams(max_tokens=8, temperature=0.0, min_tokens=2))
    logits = torch.zeros(1, VOCAB)
    logits[0, EOS] = 100.0
    assert _picked(sampler(torch.zeros(1, 1, dtype=torch.long), logits.clone())) != [EOS]
    rows[0].accept(7, 0)
    rows[0].accept(7, 0)
    assert _picked(sampler(torch.zeros(1, 1, dtype=torch.long), logits.clone())) == [EOS]
