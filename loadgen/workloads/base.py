"""The prompt type every workload produces and every client consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request's input: a completion prompt or a list of chat messages, never both."""

    text: str | None = None
    messages: tuple[dict[str, str], ...] | None = None
    prompt_tokens: int | None = None
    """Token count of the input as the workload measured it (None when unknown)."""
    output_tokens: int | None = None
    """Output length this prompt asks for (`max_tokens`); None leaves it to the run's setting."""

    def __post_init__(self) -> None:
        if (self.text is None) == (self.messages is None):
            raise ValueError("a Prompt has exactly one of text or messages")
