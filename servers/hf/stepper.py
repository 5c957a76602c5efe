"""The per-step hook inside `generate`: sees every row's new token, streams it, and stops rows.

It is passed to `generate` as a stopping criterion, which transformers calls once per decoding step
with the ids so far (the new tokens in the last column) and which returns, per row, whether the row
is done. Returning a row as done makes `generate` stop extending it and end once every row is done,
so a batch lasts exactly as long as its longest row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from servers.hf.request import Event, GenRequest
from servers.hf.rows import RowState

Publish = Callable[[list[tuple[GenRequest, Event]]], None]
"""Delivers one step's events to their requests (called from the generate thread)."""


class BatchStepper:
    """A transformers stopping criterion (`__call__(input_ids, scores) -> bool[batch]`)."""

    def __init__(self, rows: Sequence[RowState], publish: Publish, device: torch.device) -> None:
        self._rows = rows
        self._publish = publish
        self._device = device
        self._done = torch.zeros(len(rows), dtype=torch.bool, device=device)
        self.step_ns: list[int] = []
        """When each step's tokens were seen (`perf_counter_ns`); the batch record's step times."""

    @property
    def steps(self) -> int:
        """Decoding steps seen so far."""
        return len(self.step_ns)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """Accept this step's token of every live row; return which rows are done."""
        tokens: list[int] = input_ids[:, -1].tolist()
        now_ns = time.perf_counter_ns()
        self.step_ns.append(now_ns)
        events: list[tuple[GenRequest, Event]] = []
        append = events.append
        changed = False
        for row, token in zip(self._rows, tokens, strict=True):
            if row.finish is not None:  # `row.done`, without the property call
                continue
            request = row.request
            event = row.end("abort", now_ns) if request.cancelled else row.accept(token, now_ns)
            append((request, event))
            if event.finish is not None:
                changed = True
        if events:
            self._publish(events)
        if changed:
            self._done = torch.tensor([row.done for row in self._rows], dtype=torch.bool, device=self._device)
        return self._done
