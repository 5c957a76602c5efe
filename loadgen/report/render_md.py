"""Render a report `Document` as Markdown (figures linked as PNG files beside it)."""

from __future__ import annotations

from loadgen.report.doc import Callout, Code, Document, Figure, Table

_MARK = {"ok": "PASS", "warn": "WARNING", "fail": "FAIL"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_md(table: Table) -> str:
    """A pipe table (numbers right-aligned)."""
    lines = []
    if table.caption:
        lines.append(f"*{table.caption}*\n")
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---:" if numeric else "---" for numeric in table.numeric_columns()) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(doc: Document) -> str:
    """The whole document as Markdown."""
    out = [f"# {doc.title}", "", doc.subtitle, ""]
    for section in doc.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                out.append(block)
            elif isinstance(block, Table):
                out.append(table_md(block))
            elif isinstance(block, Figure):
                out.append(f"![{block.title}]({block.filename})")
            elif isinstance(block, Code):
                out.append("```\n" + block.text.rstrip("\n") + "\n```")
            elif isinstance(block, Callout):
                out.append(f"> **{_MARK[block.kind]}**: {block.text}")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
