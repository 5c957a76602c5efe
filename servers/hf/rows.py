"""One row of a running batch: turns each new token into text and decides when the row is done.

Stop conditions follow vLLM: none is honoured before `min_tokens` tokens; then EOS (unless
`ignore_eos`) or a stop token id ends the row with `stop`, a stop string ends it with `stop` and the
text is cut before the stop string, and `max_tokens` ends it with `length`. While stop strings are
set, the last `len(longest stop) - 1` characters are held back from the stream, so a client never sees
the start of a stop string that is later removed.

`accept` runs once per row per decoding step on the generate thread, so it reads the request's
settings from its own slots and, for a row without stop strings, streams each delta as it comes
instead of keeping the whole text.
"""

from __future__ import annotations

from servers.hf.detokenize import Decoder, Detokenizer, new_detokenizer
from servers.hf.request import Finish, GenRequest, StepEvent


class RowState:
    """The generation state of one request inside a batch."""

    __slots__ = (
        "request",
        "finish",
        "generated",
        "_detok",
        "_text",
        "_sent",
        "_hold",
        "_eos_ids",
        "_stop_ids",
        "_end_ids",
        "_min_tokens",
        "_max_tokens",
        "_stops",
    )

    def __init__(self, request: GenRequest, decoder: Decoder, eos_ids: frozenset[int]) -> None:
        params = request.params
        self.request = request
        self.finish: Finish | None = None
        self.generated = 0
        self._detok: Detokenizer = new_detokenizer(decoder, request.prompt_ids)
        self._text = ""
        self._sent = 0
        self._hold = max((len(s) for s in params.stop), default=1) - 1
        self._eos_ids = frozenset() if params.ignore_eos else eos_ids
        self._stop_ids = frozenset(params.stop_token_ids)
        self._end_ids = self._eos_ids | self._stop_ids
        self._min_tokens = params.min_tokens
        self._max_tokens = params.max_tokens
        self._stops = params.stop

    @property
    def done(self) -> bool:
        """True once the row has finished (its later tokens are ignored)."""
        return self.finish is not None

    def accept(self, token_id: int, now_ns: int) -> StepEvent:
        """Take the row's token of this step; return what its client gets."""
        generated = self.generated = self.generated + 1
        may_stop = generated >= self._min_tokens
        if may_stop and token_id in self._end_ids:
            self._text += self._detok.flush()
            stop_ids = self._stop_ids
            stop_reason = token_id if token_id in stop_ids and token_id not in self._eos_ids else None
            self._finish("stop", stop_reason)
        elif not self._stops and generated < self._max_tokens:
            # The common case: no stop strings, nothing held back, the row goes on.
            return StepEvent(self._detok.step(token_id), 1, now_ns, None)
        else:
            before = len(self._text)
            self._text += self._detok.step(token_id)
            if may_stop and self._stops:
                self._check_stop_strings(before)
            if self.finish is None and generated >= self._max_tokens:
                self._text += self._detok.flush()
                self._finish("length", None)
        return StepEvent(self._take_text(), 1, now_ns, self.finish)

    def end(self, reason: str, now_ns: int) -> StepEvent:
        """End the row from outside (`abort`: its client went away), flushing any held-back text."""
        self._text += self._detok.flush()
        self._finish(reason, None)
        return StepEvent(self._take_text(), 0, now_ns, self.finish)

    def _finish(self, reason: str, stop_reason: str | int | None) -> None:
        self.finish = Finish(reason, stop_reason, self.generated)

    def _check_stop_strings(self, before: int) -> None:
        text = self._text
        found_at = -1
        found: str | None = None
        for stop in self._stops:
            index = text.find(stop, max(0, before - len(stop) + 1))
            if index != -1 and (found_at == -1 or index < found_at):
                found_at, found = index, stop
        if found is not None:
            self._text = text[:found_at]
            self._finish("stop", found)

    def _take_text(self) -> str:
        end = len(self._text) if self.finish is not None else len(self._text) - self._hold
        if end <= self._sent:
            return ""
        out = self._text[self._sent : end]
        self._sent = end
        return out
