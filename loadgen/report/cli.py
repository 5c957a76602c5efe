"""`loadgen report RUN_DIR [RUN_DIR_B]`: rebuild a report from saved results, or compare two runs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the report [default: the (first) run directory].",
)
@click.option(
    "--no-plots",
    is_flag=True,
    help="Draw no PNG plots and leave them out of report.md and report.html (results kept in a repository).",
)
def report_command(runs: tuple[Path, ...], output_dir: Path | None, no_plots: bool) -> None:
    """Write report.md, report.html and PNG plots from one saved run, or from two runs compared (B vs A).

    Levels of a killed run that have records but no summary are rebuilt from requests.jsonl and
    marked "rebuilt from a partial run". Exit status 1 when no level could be read or rebuilt.
    """
    from loadgen.report.build import write_report
    from loadgen.report.console import summary_table

    if len(runs) > 2:
        raise click.UsageError("give one run directory, or two to compare them")
    if len(runs) == 2 and output_dir is None:
        output_dir = runs[1] / f"vs-{runs[0].resolve().name}"
    report = write_report(list(runs), output_dir, plots=not no_plots)
    rebuilt = [s for series in report.data.series for s in series.summaries.values() if s.get("rebuilt")]
    if rebuilt:
        click.echo(
            f"{len(rebuilt)} level(s) rebuilt from a partial run (requests.jsonl; summaries were missing)"
        )
    stopped = any(run.meta.get("stopped_at_parity") for run in report.data.runs)
    if not report.data.levels and not stopped:
        raise click.ClickException(
            "no measured level: no summary, and none could be rebuilt from requests.jsonl"
        )
    if report.data.levels:
        click.echo(summary_table(report.data))
    if report.figures_note:
        click.echo(report.figures_note)
    click.echo(f"report: {report.html} (and report.md, {len(report.figures)} PNG plots)")
