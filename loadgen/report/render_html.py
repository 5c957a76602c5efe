"""Render a report `Document` as one self-contained HTML file (plots embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import re

from loadgen.report.doc import Callout, Code, Document, Figure, Table

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
  padding:0 1em;color:#1d2433}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:1px solid #d8dee9;padding-bottom:.2em;margin-top:1.8em}
.subtitle{color:#5b6475;margin-top:0}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #d8dee9;padding:.3em .6em}
th{background:#f2f4f8;text-align:left}td{text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-style:italic;color:#5b6475;padding-bottom:.3em}
code,pre{font-family:ui-monospace,'SFMono-Regular',Menlo,monospace;font-size:.9em}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;border-radius:4px}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #e5e9f0}
figcaption{color:#5b6475;font-size:.9em}
.callout{padding:.6em .9em;border-radius:4px;margin:.8em 0;border-left:5px solid}
.ok{background:#eef8f0;border-color:#2e8540}.warn{background:#fff8e6;border-color:#d98c00}
.fail{background:#fdecec;border-color:#c62828}
"""

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def inline(text: str) -> str:
    """Escape `text` and render its `code` and **bold** spans."""
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        if match.group(1) is not None:
            out.append(f"<code>{html.escape(match.group(1))}</code>")
        else:
            out.append(f"<strong>{html.escape(match.group(2))}</strong>")
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def table_html(table: Table) -> str:
    """An HTML table."""
    parts = ["<table>"]
    if table.caption:
        parts.append(f"<caption>{inline(table.caption)}</caption>")
    parts.append("<tr>" + "".join(f"<th>{inline(h)}</th>" for h in table.headers) + "</tr>")
    numeric = table.numeric_columns()
    for row in table.rows:
        cells = [
            f"<td class='n'>{inline(c)}</td>" if numeric[i] else f"<td>{inline(c)}</td>"
            for i, c in enumerate(row)
        ]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def render_html(doc: Document) -> str:
    """The whole document as a standalone HTML page."""
    body = [f"<h1>{inline(doc.title)}</h1>", f"<p class='subtitle'>{inline(doc.subtitle)}</p>"]
    for section in doc.sections:
        body.append(f"<h2>{inline(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                body.append(f"<p>{inline(block)}</p>")
            elif isinstance(block, Table):
                body.append(table_html(block))
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                body.append(
                    f"<figure><img alt='{html.escape(block.title)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{inline(block.title)}</figcaption></figure>"
                )
            elif isinstance(block, Code):
                body.append(f"<pre>{html.escape(block.text)}</pre>")
            elif isinstance(block, Callout):
                body.append(f"<div class='callout {block.kind}'>{inline(block.text)}</div>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(doc.title)}</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
