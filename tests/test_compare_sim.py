"""The comparison pipeline end to end against two scripted servers of known, different speed.

The scripted server's latency is exact, so a server scripted 3x slower must come out about 3x slower
in the comparison, its report and its rebuild. (The real vLLM vs HF comparison is in
test_compare_real.py.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, CompareOutcome, Comparison
from loadgen.compare.targets import probe
from loadgen.report.build import write_report
from loadgen.report.data import load_report_data
from loadgen.report.ratios import METRIC_BY_KEY, speedup
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import SimFactory

OUTPUT_TOKENS = 12


@pytest.fixture(scope="module")
def sim_pair(sim_server_factory: SimFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A fast scripted server and one three times slower, serving the same model name."""
    with (
        sim_server_factory(ttft_ms=20, itl_ms=4, output_tokens=64, model="m") as fast,
        sim_server_factory(ttft_ms=60, itl_ms=12, output_tokens=64, model="m") as slow,
    ):
        yield fast, slow


def run_comparison(pair: tuple[ServerProcess, ServerProcess], run_dir: Path) -> CompareOutcome:
    """A small comparison of the pair (levels 1 and 4, one fixed batch of 4)."""
    fast, slow = pair
    infos = [probe("fast", fast.base_url), probe("slow", slow.base_url)]
    targets = [Target(i.name, i.base_url, "m") for i in infos]
    prompts = [Prompt(text=f"prompt number {i} " * 4) for i in range(16)]
    request = RequestOptions(max_tokens=OUTPUT_TOKENS, ignore_eos=True)
    plan = ComparePlan(levels=(1, 4), requests_per_level=8, warmup=1, offline_batches=(4,), baseline="slow")
    inputs = CompareInputs(infos, targets, prompts, {"kind": "test"}, request, plan, command=["test"])
    return Comparison(inputs, run_dir, lambda message: None).run()


@pytest.fixture(scope="module")
def compared(sim_pair: tuple[ServerProcess, ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of one comparison, report written."""
    run_dir = tmp_path_factory.mktemp("compare") / "run"
    outcome = run_comparison(sim_pair, run_dir)
    assert outcome.exit_code == 0, outcome.parity.to_dict()
    write_report([run_dir])
    return run_dir


def test_comparison_measures_the_scripted_speedup(compared: Path) -> None:
    data = load_report_data([compared])
    assert data.pairs == [("fast", "slow")]
    fast, slow = data.series_named("fast"), data.series_named("slow")
    for level in ("concurrency=1", "concurrency=4"):
        e2e = speedup(METRIC_BY_KEY["p50_e2el_ms"], fast.summaries[level], slow.summaries[level])
        ttft = speedup(METRIC_BY_KEY["p50_ttft_ms"], fast.summaries[level], slow.summaries[level])
        assert e2e is not None and 2.0 < e2e < 3.5, (level, e2e)
        assert ttft is not None and 1.8 < ttft < 3.5, (level, ttft)


def test_levels_interleave_between_targets_in_alternating_order(compared: Path) -> None:
    first_send: dict[tuple[str, str], int] = {}
    for line in (compared / "requests.jsonl").read_bytes().splitlines():
        record = orjson.loads(line)
        key = (record["target"], record["level"])
        first_send[key] = min(first_send.get(key, record["send_ns"]), record["send_ns"])
    order = sorted(first_send, key=first_send.__getitem__)
    assert order == [
        ("fast", "concurrency=1"),
        ("slow", "concurrency=1"),
        ("slow", "concurrency=4"),
        ("fast", "concurrency=4"),
    ]


def test_parity_gates_pass_for_servers_doing_the_same_work(compared: Path) -> None:
    parity = orjson.loads((compared / "parity.json").read_bytes())
    verdicts = {g["name"]: g["status"] for g in parity["gates"]}
    assert verdicts == {"token_agreement": "pass", "usage": "pass", "output_length": "pass"}
    assert parity["gates"][2]["details"]["length_agreement"] == 1.0


def test_report_has_every_section_plots_and_offline_batches(compared: Path) -> None:
    pytest.importorskip("matplotlib")  # the `report` extra (its absence is tested below)
    markdown = (compared / "report.md").read_text()
    for heading in (
        "## Verdict",
        "## Speed-up at each level",
        "## Results by level",
        "## Plots",
        "## Fixed batches, load time and memory",
        "## Parity checks",
        "## Server configuration",
        "## Machine",
        "## Load generator self-check",
        "## Method",
    ):
        assert heading in markdown
    assert "Parity gates passed" in markdown
    offline = orjson.loads((compared / "offline.json").read_bytes())
    assert sorted((b["target"], b["batch_size"], b["completed"]) for b in offline) == [
        ("fast", 4, 4),
        ("slow", 4, 4),
    ]
    assert all(b["peak_rss_bytes"] and b["peak_rss_bytes"] > 10 * 2**20 for b in offline)
    pngs = sorted(p.name for p in compared.glob("*.png"))
    assert {"throughput.png", "latency.png", "frontier.png", "speedup.png", "offline.png"} <= set(pngs)
    html = (compared / "report.html").read_text()
    assert html.count("src='data:image/png;base64,") == len(pngs)
    assert "http://" not in html.replace("http://127.0.0.1", "")  # nothing fetched from elsewhere


def test_report_rebuilds_identically_from_saved_results(compared: Path, tmp_path: Path) -> None:
    rebuilt = write_report([compared], tmp_path)
    assert rebuilt.markdown.read_text() == (compared / "report.md").read_text()


def test_report_compares_two_saved_runs_target_by_target(compared: Path, tmp_path: Path) -> None:
    other = tmp_path / "again"
    shutil.copytree(compared, other)
    report = write_report([compared, other], tmp_path / "vs")
    assert report.data.pairs == [("again/fast", "run/fast"), ("again/slow", "run/slow")]
    assert "servebench: again vs run" in report.markdown.read_text()
    assert "1.00x" in report.markdown.read_text()


def test_report_without_matplotlib_says_how_to_get_plots(
    compared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report = write_report([compared], tmp_path)
    assert report.figures == []
    assert "matplotlib is not installed" in report.markdown.read_text()
    assert "data:image/png" not in report.html.read_text()
