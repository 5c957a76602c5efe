"""The generated text and the prompt-token count.

Generated tokens are single English-like words, each with a leading space (`" alpha"`, `" beta"`,
...), cycling through a fixed vocabulary, so output is deterministic and a real tokenizer counts
about one token per word. The scripted server has no tokenizer: a prompt's token count is the number
of whitespace-separated words of the prompt (for chat, of all message contents together), or the
number of ids when the prompt is given as token ids.
"""

from __future__ import annotations

from typing import Any

VOCABULARY: tuple[str, ...] = tuple(
    " " + word
    for word in (
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma "
        "tau upsilon phi chi psi omega red orange yellow green blue indigo violet white black grey "
        "north south east west river mountain forest desert ocean island valley meadow stone iron "
        "copper silver gold glass paper cotton wool silk bread water salt honey apple pear plum cherry"
    ).split()
)


def token_text(index: int) -> str:
    """The text of generated token number `index` (0-based)."""
    return VOCABULARY[index % len(VOCABULARY)]


def generated_text(count: int) -> str:
    """The whole text of `count` generated tokens."""
    return "".join(token_text(i) for i in range(count))


def count_words(text: str) -> int:
    """Prompt tokens of a text prompt: its whitespace-separated words."""
    return len(text.split())


def count_message_words(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of a chat: the words of every message's content (text parts of part lists)."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += count_words(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += count_words(part["text"])
    return total
