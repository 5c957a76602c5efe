"""Write a report: `report.md`, a self-contained `report.html`, and the plots as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadgen.report.content import build_document
from loadgen.report.data import ReportData, load_report_data
from loadgen.report.plots import make_figures
from loadgen.report.render_html import render_html
from loadgen.report.render_md import render_markdown


@dataclass
class WrittenReport:
    """Where the report went."""

    directory: Path
    markdown: Path
    html: Path
    figures: list[Path]
    figures_note: str | None
    data: ReportData


def write_report(
    run_dirs: Sequence[str | Path], out_dir: str | Path | None = None, plots: bool = True
) -> WrittenReport:
    """Build the report of one run (or of two runs compared) into `out_dir` (default: the first run);
    `plots=False` draws no PNG and leaves the figures out of the documents."""
    data = load_report_data(run_dirs)
    directory = Path(out_dir) if out_dir is not None else data.primary.saved.directory
    directory.mkdir(parents=True, exist_ok=True)
    figures, note = make_figures(data) if plots else ([], None)
    doc = build_document(data, figures, note, plots=plots)
    paths = []
    for figure in figures:
        path = directory / figure.filename
        path.write_bytes(figure.png)
        paths.append(path)
    markdown = directory / "report.md"
    markdown.write_text(render_markdown(doc), encoding="utf-8")
    html = directory / "report.html"
    html.write_text(render_html(doc), encoding="utf-8")
    return WrittenReport(directory, markdown, html, paths, note, data)
