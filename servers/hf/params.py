"""What one request asks of generation, after validation: the input the batcher and runner work from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Per-request generation settings (vLLM's `SamplingParams` semantics)."""

    max_tokens: int
    temperature: float = 1.0
    """0 means greedy."""
    top_p: float = 1.0
    top_k: int = 0
    """0 (or vLLM's -1) means no top-k cut."""
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    min_tokens: int = 0
    """EOS and stop conditions are not honoured before this many tokens."""

    @property
    def greedy(self) -> bool:
        """True when the row takes the most likely token at every step."""
        return self.temperature == 0.0

    @property
    def needs_sampler(self) -> bool:
        """True when the row draws tokens at random (so the per-row sampler must act on it)."""
        return not self.greedy
