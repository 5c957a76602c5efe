"""Per-row sampling inside one greedy `generate` call.

Requests in one batch may ask for different temperature, top_p, top_k and seed. `generate` applies one
configuration to the whole batch, so the batch runs in greedy mode and this logits processor does each
sampling row's draw itself (temperature, then top-k, then top-p, vLLM's order), with the row's own
`torch.Generator` when it gave a seed, and hands back scores where only the drawn token is finite:
greedy selection then picks exactly that token. Greedy rows pass through untouched, so their output
equals a plain greedy `generate`. The processor also keeps EOS and stop tokens out of rows that have
not reached `min_tokens`.

Cost: nothing for an all-greedy batch. A row with top-k works on its k best candidates only (one
`topk` over the vocabulary, then top-p and the draw among k values); a row without top-k takes one
softmax over the vocabulary, plus a full sort only when it asks for top-p. Draws use the
exponential race (argmax of p / Exp(1) noise), as vLLM does, which is much cheaper on CPU than
`torch.multinomial` over 49k categories.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from servers.hf.params import GenerationParams
from servers.hf.rows import RowState

_NEG_INF = float("-inf")


class RowSampler:
    """A transformers logits processor (`__call__(input_ids, scores) -> scores`) acting row by row."""

    def __init__(self, rows: Sequence[RowState], eos_ids: frozenset[int], device: torch.device) -> None:
        self._rows = rows
        self._device = device
        self._sampling = [i for i, row in enumerate(rows) if row.request.params.needs_sampler]
        self._min_token_rows: list[tuple[int, list[int]]] = []
        for i, row in enumerate(rows):
            params = row.request.params
            blocked = set(params.stop_token_ids) | (set() if params.ignore_eos else set(eos_ids))
            if params.min_tokens > 0 and blocked:
                self._min_token_rows.append((i, sorted(blocked)))
        self._generators: dict[int, torch.Generator] = {}
        for i in self._sampling:
            seed = rows[i].request.params.seed
            if seed is not None:
                generator = torch.Generator(device=device)
                generator.manual_seed(seed)
                self._generators[i] = generator

    @property
    def needed(self) -> bool:
        """False when the batch is all greedy with no `min_tokens`: then `generate` needs no processor."""
        return bool(self._sampling or self._min_token_rows)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Apply `min_tokens` and draw the sampling rows' tokens."""
        for i, blocked in self._min_token_rows:
            row = self._rows[i]
            if not row.done and row.generated < row.request.params.min_tokens:
                scores[i, blocked] = _NEG_INF
        active = [i for i in self._sampling if not self._rows[i].done]
        if active:
            self._draw(active, scores)
        return scores

    def _draw(self, active: list[int], scores: torch.Tensor) -> None:
        params = [self._rows[i].request.params for i in active]
        index = torch.tensor(active, device=scores.device)
        temperature = torch.tensor([p.temperature for p in params], device=scores.device)
        logits = scores.index_select(0, index).float().div_(temperature.unsqueeze(1))
        tokens = torch.empty(len(active), dtype=torch.long, device=scores.device)
        with_k = [j for j, p in enumerate(params) if p.top_k > 0]
        without_k = [j for j, p in enumerate(params) if p.top_k == 0]
        if with_k:
            tokens[with_k] = self._draw_top_k(
                logits[with_k], [active[j] for j in with_k], [params[j] for j in with_k]
            )
        if without_k:
            tokens[without_k] = self._draw_full(
                logits[without_k], [active[j] for j in without_k], [params[j] for j in without_k]
            )
        scores.index_fill_(0, index, _NEG_INF)
        scores[index, tokens] = 0.0

    def _draw_top_k(
        self, logits: torch.Tensor, rows: list[int], params: list[GenerationParams]
    ) -> torch.Tensor:
        """Rows with top-k: only their k best candidates (from one `topk`, sorted) are ever considered."""
        vocab = logits.shape[-1]
        ks = [min(p.top_k, vocab) for p in params]
        values, candidates = torch.topk(logits, max(ks), dim=-1)
        position = torch.arange(values.shape[-1], device=logits.device).unsqueeze(0)
        values = values.masked_fill(position >= torch.tensor(ks, device=logits.device).unsqueeze(1), _NEG_INF)
        values = _nucleus(values, [p.top_p for p in params])
        choice = self._race(torch.softmax(values, dim=-1), rows, widths=ks)
        return candidates.gather(1, choice.unsqueeze(1)).squeeze(1)

    def _draw_full(
        self, logits: torch.Tensor, rows: list[int], params: list[GenerationParams]
    ) -> torch.Tensor:
        """Rows without top-k: the whole vocabulary (sorted only when top-p asks for it)."""
        if all(p.top_p >= 1.0 for p in params):
            return self._race(torch.softmax(logits, dim=-1), rows)
        ordered, order = torch.sort(logits, dim=-1, descending=True)
        ordered = _nucleus(ordered, [p.top_p for p in params])
        # Back to vocabulary order, so a seeded row's draw does not depend on its neighbours.
        kept = torch.empty_like(logits).scatter_(1, order, ordered)
        return self._race(torch.softmax(kept, dim=-1), rows)

    def _race(self, probs: torch.Tensor, rows: list[int], widths: list[int] | None = None) -> torch.Tensor:
        """One draw per row from `probs` (argmax of p / Exp(1) noise), seeded rows with their own generator.

        A seeded row's noise covers only its own `width` columns, so what it draws does not depend on
        the other rows of the batch.
        """
        noise = torch.empty_like(probs).exponential_()
        for j, row in enumerate(rows):
            generator = self._generators.get(row)
            if generator is not None:
                width = probs.shape[-1] if widths is None else widths[j]
                noise[j, :width].exponential_(generator=generator)
        return torch.argmax(probs.div_(noise), dim=-1)


def _nucleus(ordered: torch.Tensor, top_p: list[float]) -> torch.Tensor:
    """Keep, per row of descending `ordered` logits, the smallest prefix holding `top_p` of the mass."""
    if all(p >= 1.0 for p in top_p):
        return ordered
    probs = torch.softmax(ordered, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    p = torch.tensor(top_p, device=ordered.device).unsqueeze(1)
    return ordered.masked_fill((mass_before > p) & (p < 1.0), _NEG_INF)
