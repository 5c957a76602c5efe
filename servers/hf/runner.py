"""Runs one batch: left-pads its prompts and makes ONE `generate` call for all of its rows.

It runs in the batcher's worker thread. Each step's tokens reach the clients through `BatchStepper`;
per-row sampling and `min_tokens` go through `RowSampler`. EOS is handled per row by the stepper (so
`ignore_eos` rows and ordinary rows can share a batch), which is why the generation config carries no
EOS id. Out-of-memory fails the batch's unfinished requests with a 503 and frees the device cache; any
other exception fails them with a 500; either way the server goes on serving.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch

from servers.hf.detokenize import Decoder
from servers.hf.loading import LoadedModel, generation_config
from servers.hf.request import Failure, GenRequest, StepEvent
from servers.hf.rows import RowState
from servers.hf.sampling import RowSampler
from servers.hf.stepper import BatchStepper, Publish

log = logging.getLogger("servers.hf")


@dataclass(frozen=True, slots=True)
class BatchShape:
    """The padded input of a batch."""

    rows: int
    width: int
    prompt_tokens: int

    @property
    def padding_fraction(self) -> float:
        """Share of the padded prompt positions that are padding."""
        total = self.rows * self.width
        return 0.0 if total == 0 else (total - self.prompt_tokens) / total


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a finished batch did."""

    steps: int
    failed: str | None = None
    step_ns: tuple[int, ...] = ()
    """When each decoding step's tokens were seen (`perf_counter_ns`)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device or host allocation failure."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def batch_shape(batch: list[GenRequest]) -> BatchShape:
    """The padded shape of `batch`."""
    return BatchShape(len(batch), max(r.prompt_tokens for r in batch), sum(r.prompt_tokens for r in batch))


class GenerateRunner:
    """Turns a batch of requests into one `model.generate` call."""

    def __init__(
        self, model: Any, decoder: Decoder, pad_token_id: int, eos_ids: frozenset[int], device: torch.device
    ) -> None:
        self._model = model
        self._decoder = decoder
        self._pad = pad_token_id
        self._eos_ids = eos_ids
        self._device = device
        # generate fills unset fields from the model's own generation config, so its EOS must go there too.
        model.generation_config = generation_config(pad_token_id=pad_token_id)

    @classmethod
    def for_model(cls, loaded: LoadedModel) -> GenerateRunner:
        """The runner for a loaded model."""
        return cls(loaded.model, loaded.backend, loaded.pad_token_id, loaded.eos_ids, loaded.device)

    def left_pad(self, batch: list[GenRequest]) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids and attention mask with every prompt aligned to the right."""
        width = max(r.prompt_tokens for r in batch)
        input_ids = torch.full((len(batch), width), self._pad, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, request in enumerate(batch):
            n = request.prompt_tokens
            input_ids[i, width - n :] = torch.tensor(request.prompt_ids, dtype=torch.long)
            attention_mask[i, width - n :] = 1
        return input_ids.to(self._device), attention_mask.to(self._device)

    def run(self, batch: list[GenRequest], publish: Publish) -> BatchOutcome:
        """Generate for every row of `batch`, streaming through `publish`; never raises."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        rows = [RowState(request, self._decoder, self._eos_ids) for request in batch]
        stepper = BatchStepper(rows, publish, self._device)
        sampler = RowSampler(rows, self._eos_ids, self._device)
        try:
            input_ids, attention_mask = self.left_pad(batch)
            config = generation_config(
                do_sample=False,
                num_beams=1,
                pad_token_id=self._pad,
                use_cache=True,
                max_new_tokens=max(r.params.max_tokens for r in batch),
            )
            with torch.inference_mode():
                self._model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    generation_config=config,
                    logits_processor=LogitsProcessorList([sampler]) if sampler.needed else None,
                    stopping_criteria=StoppingCriteriaList([stepper]),
                )
        except Exception as exc:  # noqa: BLE001 - any failure fails this batch only
            return self._fail(rows, exc, publish, stepper.step_ns)
        leftovers: list[tuple[GenRequest, StepEvent | Failure]] = []
        for row in rows:
            if not row.done:  # generate ended before the stepper finished the row (not expected)
                leftovers.append((row.request, row.end("length", time.perf_counter_ns())))
        if leftovers:
            publish(leftovers)
        return BatchOutcome(stepper.steps, step_ns=tuple(stepper.step_ns))

    def _fail(
        self, rows: list[RowState], exc: Exception, publish: Publish, step_ns: list[int]
    ) -> BatchOutcome:
        live = [row for row in rows if not row.done]
        if is_out_of_memory(exc):
            message = (
                f"out of memory while generating a batch of {len(rows)} requests; "
                "the server has recovered, retry the request"
            )
            status = 503
            log.warning("batch of %d failed: out of memory: %s", len(rows), exc)
        else:
            message = f"generation failed: {type(exc).__name__}: {exc}"
            status = 500
            log.exception("batch of %d failed", len(rows))
        for row in live:
            row.end("abort", 0)
        publish([(row.request, Failure(status, message)) for row in live])
        del exc
        gc.collect()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
        return BatchOutcome(len(step_ns), failed=message, step_ns=tuple(step_ns))
