"""A small document model, so the Markdown and the HTML report say exactly the same thing.

Inline text may use `code` and **bold**; both renderers understand those two and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

_NUMERIC = re.compile(r"^(-|[-+]?[\d,]*\.?\d+( ?(x|%|MiB|GiB|s|ms))?†?|\d+ / \d+|[\d.,]+ / [\d.,]+)$")


@dataclass
class Table:
    """A table; the first column is a row header."""

    headers: list[str]
    rows: list[list[str]]
    caption: str | None = None

    def numeric_columns(self) -> list[bool]:
        """Per column: True when every non-empty cell is a number (such columns are right-aligned)."""
        out = []
        for i in range(len(self.headers)):
            cells = [row[i] for row in self.rows if i < len(row) and row[i]]
            out.append(i > 0 and bool(cells) and all(_NUMERIC.match(c) for c in cells))
        return out


@dataclass
class Figure:
    """A PNG plot, saved beside the report and embedded in the HTML."""

    filename: str
    title: str
    png: bytes


@dataclass
class Code:
    """A preformatted block (commands, configuration)."""

    text: str


@dataclass
class Callout:
    """A highlighted sentence: a verdict or a warning."""

    kind: Literal["ok", "warn", "fail"]
    text: str


Block = str | Table | Figure | Code | Callout


@dataclass
class Section:
    """A titled part of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """The whole report."""

    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        """Every figure, in order."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]
