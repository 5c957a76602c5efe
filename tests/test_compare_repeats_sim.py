"""Repeats with confidence intervals, and client-bound levels, end to end against two scripted servers.

The fast server takes 20 + 11 * 4 = 64 ms per 12-token request, the slow one 60 + 11 * 12 = 192 ms:
3x. Client-bound verdicts are forced by wrapping the self-check's `judge` (the real one first), so
the tests do not depend on how loaded the machine is: every other run is judged to have kept up.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import loadgen.runner
from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, CompareOutcome, Comparison
from loadgen.compare.targets import probe
from loadgen.report.build import write_report
from loadgen.report.console import summary_table, verdict_lines
from loadgen.report.data import load_report_data
from loadgen.report.intervals import ratio_for
from loadgen.report.tails import DAGGER, FOOTNOTE
from loadgen.run_config import RequestOptions, Target
from loadgen.selfcheck import SelfCheckReport, judge
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import SimFactory

WORKLOAD = {"kind": "synthetic", "input_len": 16, "output_len": 12}


@pytest.fixture(scope="module")
def sim_pair(sim_server_factory: SimFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A fast scripted server and one three times slower, serving the same model name."""
    with (
        sim_server_factory(ttft_ms=20, itl_ms=4, output_tokens=64, model="m") as fast,
        sim_server_factory(ttft_ms=60, itl_ms=12, output_tokens=64, model="m") as slow,
    ):
        yield fast, slow


def compare(pair: tuple[ServerProcess, ServerProcess], run_dir: Path, **plan: Any) -> CompareOutcome:
    fast, slow = pair
    infos = [probe("fast", fast.base_url), probe("slow", slow.base_url)]
    targets = [Target(i.name, i.base_url, "m") for i in infos]
    prompts = [Prompt(text=f"prompt number {i} " * 4) for i in range(16)]
    settings = {
        "levels": (1, 4),
        "requests_per_level": 8,
        "warmup": 1,
        "offline_batches": (),
        "baseline": "slow",
    }
    inputs = CompareInputs(
        infos,
        targets,
        prompts,
        dict(WORKLOAD),
        RequestOptions(max_tokens=12, ignore_eos=True),
        ComparePlan(**{**settings, **plan}),
        command=["test"],
    )
    return Comparison(inputs, run_dir, lambda message: None).run()


@pytest.fixture(scope="module")
def repeated(sim_pair: tuple[ServerProcess, ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("repeats") / "run"
    with pytest.MonkeyPatch.context() as patch:
        force_client_bound(patch, "none", times=0)
        outcome = compare(sim_pair, run_dir, repeats=3)
    assert outcome.exit_code == 0, outcome.parity.to_dict()
    write_report([run_dir])
    return run_dir


def run_order(run_dir: Path) -> list[str]:
    """The request-id prefixes of the runs, in the order they started."""
    first: dict[str, int] = {}
    for line in (run_dir / "requests.jsonl").read_bytes().splitlines():
        record = orjson.loads(line)
        prefix = record["request_id"].rsplit("-", 1)[0]
        first[prefix] = min(first.get(prefix, record["send_ns"]), record["send_ns"])
    return sorted(first, key=first.__getitem__)


def test_repeats_interleave_abba(repeated: Path) -> None:
    assert run_order(repeated) == [
        "fast-0-r0", "slow-0-r0", "slow-0-r1", "fast-0-r1", "fast-0-r2", "slow-0-r2",
        "slow-1-r0", "fast-1-r0", "fast-1-r1", "slow-1-r1", "slow-1-r2", "fast-1-r2",
    ]  # fmt: skip


def test_each_repeat_is_saved_and_pooled(repeated: Path) -> None:
    data = load_report_data([repeated])
    fast = data.series_named("fast")
    assert sorted(fast.repeats["concurrency=4"]) == [0, 1, 2]
    pooled = fast.summaries["concurrency=4"]
    assert pooled["pooled"] is True and pooled["repeats"] == 3 and pooled["completed"] == 24
    runs = fast.repeats["concurrency=4"].values()
    assert pooled["total_output_tokens"] == sum(r["total_output_tokens"] for r in runs) == 24 * 12
    assert pooled["duration"] == pytest.approx(sum(r["duration"] for r in runs))


def test_speedup_intervals_cover_the_scripted_ratio(repeated: Path) -> None:
    data = load_report_data([repeated])
    for level in ("concurrency=1", "concurrency=4"):
        for key in ("p50_e2el_ms", "output_throughput", "p50_itl_ms"):
            ci = ratio_for(data, ("fast", "slow"), level, key)
            assert ci is not None and ci.low is not None and ci.high is not None, (level, key)
            assert ci.estimate is not None and ci.low <= ci.estimate <= ci.high
            # the scripted ratio is 3 (a little less measured: the client's own time adds to both);
            # a load spike on this shared machine can widen an interval but not move it off 3
            assert 1.8 < ci.low <= 3.06 and 2.7 <= ci.high < 4.5, (level, key, ci)
            assert ci.method == "hierarchical bootstrap over 3 repeats, then requests"


def test_report_gives_intervals_method_and_traffic_in_the_verdict(repeated: Path) -> None:
    markdown = (repeated / "report.md").read_text()
    assert "## Confidence intervals (95%)" in markdown
    assert markdown.count("hierarchical bootstrap over 3 repeats, then requests") >= 8
    verdict = markdown.split("## Verdict", 1)[1].split("##", 1)[0]
    assert "(95% CI " in verdict
    assert "— synthetic 16 in / 12 out, closed loop, concurrency 4, 3 repeats" in verdict
    html = (repeated / "report.html").read_text()
    assert "95% CI" in html and "Confidence intervals (95%)" in html


def test_thin_percentiles_are_marked(repeated: Path) -> None:
    """24 requests per level: p50 (needs 40) and p99 (2,000) are thin; ITL has 24 * 11 = 264 gaps."""
    markdown = (repeated / "report.md").read_text()
    by_level = markdown.split("## Results by level", 1)[1].split("\n## ", 1)[0].splitlines()
    row = next(line for line in by_level if line.startswith("| TTFT p99 (ms)"))
    assert row.count(DAGGER) == 3  # both servers and the speed-up
    itl = next(line for line in by_level if line.startswith("| ITL p50 (ms)"))
    assert DAGGER not in itl
    e2e = next(line for line in by_level if line.startswith("| E2E p50 (ms)"))
    assert e2e.count(DAGGER) == 3
    mean = next(line for line in by_level if line.startswith("| TPOT mean (ms)"))
    assert DAGGER not in mean
    assert FOOTNOTE in markdown
    assert FOOTNOTE in summary_table(load_report_data([repeated]))


def test_report_rebuilds_identically_with_the_same_intervals(repeated: Path, tmp_path: Path) -> None:
    rebuilt = write_report([repeated], tmp_path)
    assert rebuilt.markdown.read_text() == (repeated / "report.md").read_text()


@pytest.mark.parametrize(("suffix", "compress"), [(".xz", lzma.compress), (".gz", gzip.compress)])
def test_a_copy_with_compressed_records_rebuilds_the_same_report(
    repeated: Path, tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    """Results in docs/results keep `requests.jsonl.xz` (older ones `.gz`): the intervals come from
    it as from the plain file."""
    copy = tmp_path / "committed"
    shutil.copytree(repeated, copy)
    records = copy / "requests.jsonl"
    (copy / f"requests.jsonl{suffix}").write_bytes(compress(records.read_bytes()))
    records.unlink()
    rebuilt = write_report([copy], tmp_path / "out").markdown.read_text()

    def section(markdown: str, title: str) -> str:
        return markdown.split(f"## {title}", 1)[1].split("\n## ", 1)[0]

    for title in ("Verdict", "Confidence intervals (95%)", "Results by level"):
        assert section(rebuilt, title) == section((repeated / "report.md").read_text(), title), title


def test_a_run_without_records_shows_no_intervals_not_zeros(repeated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "no-records"
    shutil.copytree(repeated, copy)
    (copy / "requests.jsonl").unlink()
    markdown = write_report([copy], tmp_path / "out").markdown.read_text()
    assert "## Confidence intervals (95%)" not in markdown
    assert "| 0.00 |" not in markdown


def test_no_plots_draws_none_and_refers_to_none(repeated: Path, tmp_path: Path) -> None:
    """For results kept in a repository without their PNGs: no broken image links."""
    from click.testing import CliRunner

    from loadgen.report.cli import report_command

    out = tmp_path / "out"
    done = CliRunner().invoke(report_command, [str(repeated), "--output-dir", str(out), "--no-plots"])
    assert done.exit_code == 0, done.output
    assert not list(out.glob("*.png"))
    markdown = (out / "report.md").read_text()
    assert ".png)" not in markdown and "<img" not in (out / "report.html").read_text()
    assert "Left out of this copy (`loadgen report --no-plots`" in markdown
    assert "0 PNG plots" in done.output
    # everything else is the same report
    assert markdown.split("## Plots", 1)[0] == (repeated / "report.md").read_text().split("## Plots", 1)[0]


def force_client_bound(monkeypatch: pytest.MonkeyPatch, level: str, times: int) -> list[str]:
    """The first `times` runs of `level` are judged client-bound, every other run not (the real
    self-check still measures everything else)."""
    forced: list[str] = []

    def judging(**kwargs: Any) -> SelfCheckReport:
        report = judge(**kwargs)
        records = kwargs["records"]
        force = bool(records) and records[0].level == level and len(forced) < times
        if force:
            forced.append(records[0].request_id)
        report.reasons = ["forced by the test"] if force else []
        report.client_bound = force
        return report

    monkeypatch.setattr(loadgen.runner, "judge", judging)
    return forced


def test_client_bound_level_is_named_first_and_left_out_of_the_verdict(
    sim_pair: tuple[ServerProcess, ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    force_client_bound(monkeypatch, "concurrency=4", times=1)
    run_dir = tmp_path / "run"
    compare(sim_pair, run_dir)
    report = write_report([run_dir])
    markdown = report.markdown.read_text()
    verdict = markdown.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert verdict.lstrip().startswith("> **WARNING**: CLIENT-BOUND, left out of the verdict: concurrency=4.")
    assert "forced by the test" in verdict
    assert "closed loop, concurrency 1, 1 run" in verdict and "concurrency 4, 1 run" not in verdict
    assert "CLIENT-BOUND, left out of the verdict: concurrency=4" in report.html.read_text()
    lines = verdict_lines(report.data)
    assert lines[0].startswith("CLIENT-BOUND, left out of the verdict: concurrency=4")
    assert "concurrency 1" in lines[1]


def test_rerun_client_bound_replaces_the_level_when_the_rerun_keeps_up(
    sim_pair: tuple[ServerProcess, ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forced = force_client_bound(monkeypatch, "concurrency=4", times=1)
    run_dir = tmp_path / "run"
    outcome = compare(sim_pair, run_dir, rerun_client_bound=True, repeats=2)
    assert forced == ["fast-1-r0-0"] or forced == ["slow-1-r0-0"]
    assert any(s.get("attempt") == 2 for s in outcome.summaries)
    assert orjson.loads((run_dir / "run.json").read_bytes())["reruns"] == ["concurrency=4"]
    report = write_report([run_dir])
    data = report.data
    assert data.series_named("fast").summaries["concurrency=4"]["attempt"] == 2
    assert data.series_named("fast").summaries["concurrency=4"]["completed"] == 16
    markdown = report.markdown.read_text()
    assert "CLIENT-BOUND" not in markdown.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "the re-run kept up: concurrency=4" in markdown
    assert "closed loop, concurrency 4, 2 repeats" in markdown
    # the first attempt's requests stay on disk but out of the intervals: 16 requests per server
    ci = ratio_for(data, ("fast", "slow"), "concurrency=4", "p50_e2el_ms")
    assert ci is not None and ci.has_interval


def test_a_level_still_client_bound_after_its_rerun_stays_out(
    sim_pair: tuple[ServerProcess, ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    force_client_bound(monkeypatch, "concurrency=4", times=3)
    run_dir = tmp_path / "run"
    compare(sim_pair, run_dir, levels=(1, 4), rerun_client_bound=True)
    markdown = write_report([run_dir]).markdown.read_text()
    assert "Re-run once, still client-bound: concurrency=4." in markdown
    assert "closed loop, concurrency 1, 1 run" in markdown
