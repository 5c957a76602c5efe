"""The output-length variance sweep against two scripted servers of known batching: one imitating
naive static batching (`--batching static`), one continuous batching (the default). The throughput of
each, and their ratio, are computed exactly from the scripted timing and the lengths that were sent.

Timing model (sim-server, `--ttft-ms T --itl-ms T`, no jitter, no slowdown): a request of L output
tokens takes T + (L - 1) * T = L * T from admission to its last token.
- continuous, closed loop at concurrency C with C slots: each client sends its next request as soon as
  the last one ends, so request i starts on the client that frees first (list scheduling); the level
  lasts as long as the busiest client.
- static, batches of B = C: the C requests in flight form a batch; a client whose request ended waits
  for the whole batch, so batch k is requests kC..kC+C-1 and lasts max(L) * T.
Output throughput = sum(L) / that time.

Tolerance: every request adds the HTTP round trip and event-loop hand-offs of client and server
(about 1 ms here, up to a few ms on a loaded 2-core machine) to the scripted time. With 4 requests per
client (or 4 batches) of 20 ms tokens and about 8 tokens per request, that is at most 4 x 5 ms = 20 ms on
a level of 500-1500 ms: under 4%. We allow 10% per server, and the expected ratios of consecutive
levels differ by more than that (checked below), so "the ratio rises with the spread" is a real check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.compare.variance import AXIS, SPREADS, variance_specs
from loadgen.compare.workload import build_compare_workload
from loadgen.errors import ConfigError
from loadgen.report.build import write_report
from loadgen.report.data import load_report_data
from loadgen.run_config import RequestOptions, Target
from loadgen.settings.compare import compare_settings
from loadgen.settings.table import VARIANCE_SPREADS
from tests.fixtures.model import model_dir_path
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import SimFactory

STEP_MS = 20.0
CONCURRENCY = 4
REQUESTS = 16
MEAN_OUTPUT = 8
TOLERANCE = 0.10


def continuous_seconds(lengths: list[int], clients: int) -> float:
    """Closed loop on a continuous-batching server: list scheduling of L*T jobs on `clients`."""
    free = [0.0] * clients
    for length in lengths:
        i = min(range(clients), key=free.__getitem__)
        free[i] += length * STEP_MS / 1e3
    return max(free)


def static_seconds(lengths: list[int], batch: int) -> float:
    """Closed loop at concurrency `batch` on a static-batching server: consecutive batches of `batch`."""
    return sum(max(lengths[k : k + batch]) * STEP_MS / 1e3 for k in range(0, len(lengths), batch))


@pytest.fixture(scope="module")
def servers(sim_server_factory: SimFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A continuous-batching and a static-batching scripted server, the same step time."""
    common = {"ttft_ms": STEP_MS, "itl_ms": STEP_MS, "model": "m", "max_concurrency": CONCURRENCY}
    with (
        sim_server_factory(**common) as continuous,
        sim_server_factory(**common, batching="static", batch_wait_ms=50) as static,
    ):
        yield continuous, static


@pytest.fixture(scope="module")
def swept(servers: tuple[ServerProcess, ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Path:
    tokenizer = model_dir_path()
    if not (tokenizer / "tokenizer.json").is_file():
        pytest.skip("the SmolLM2 tokenizer is not built")
    plan = ComparePlan(
        levels=(CONCURRENCY,),
        requests_per_level=REQUESTS,
        warmup=0,
        offline_batches=(),
        baseline="static",
        probe_prompts=1,
        probe_tokens=2,
        seed=9,  # its draws separate the expected ratios (1.00, 1.42, 2.21) by more than the tolerance
    )
    opts = {"sweep": "output-variance", "output_len": MEAN_OUTPUT, "input_len": 8}
    built = build_compare_workload(compare_settings(opts), plan, str(tokenizer), "completions")
    infos = [probe("continuous", servers[0].base_url), probe("static", servers[1].base_url)]
    targets = [Target(i.name, i.base_url, "m") for i in infos]
    request = RequestOptions(max_tokens=MEAN_OUTPUT, ignore_eos=True)
    inputs = CompareInputs(
        infos, targets, built.prompts, built.description, request, plan, command=["t"], levels=built.levels
    )
    run_dir = tmp_path_factory.mktemp("variance") / "run"
    outcome = Comparison(inputs, run_dir, lambda message: None).run()
    assert outcome.exit_code == 0, outcome.parity.to_dict()
    write_report([run_dir])
    return run_dir


def test_the_ratio_rises_with_the_spread_as_the_scripted_timing_says(swept: Path) -> None:
    data = load_report_data([swept])
    assert data.x_label == AXIS
    assert [lvl.split()[1] for lvl in data.levels] == ["fixed:8", "uniform:1,15", "exponential:8"]
    continuous, static = data.series_named("continuous"), data.series_named("static")
    expected_ratios, measured_ratios = [], []
    for level in data.levels:
        sent = [r for r in load_records(swept) if r["target"] == "static" and r["level"] == level]
        lengths = [r["max_tokens"] for r in sorted(sent, key=lambda r: r["index"])]
        assert len(lengths) == REQUESTS
        expect_c = sum(lengths) / continuous_seconds(lengths, CONCURRENCY)
        expect_s = sum(lengths) / static_seconds(lengths, CONCURRENCY)
        got_c = continuous.summaries[level]["output_throughput"]
        got_s = static.summaries[level]["output_throughput"]
        assert got_c == pytest.approx(expect_c, rel=TOLERANCE), (level, lengths)
        assert got_s == pytest.approx(expect_s, rel=TOLERANCE), (level, lengths)
        expected_ratios.append(expect_c / expect_s)
        measured_ratios.append(got_c / got_s)
    assert expected_ratios[0] == 1.0  # fixed lengths: static batching loses nothing
    # the setup separates the levels by more than the tolerance, so the check below can fail
    assert all(b - a > 2 * TOLERANCE * b for a, b in zip(expected_ratios, expected_ratios[1:], strict=False))
    assert measured_ratios == pytest.approx(expected_ratios, rel=TOLERANCE)
    assert measured_ratios == sorted(measured_ratios)


def test_the_static_servers_row_steps_used_fall_with_the_spread_exactly(swept: Path) -> None:
    # The static sim's batches are consecutive groups of CONCURRENCY requests, each as long as its
    # longest: tokens over rows x steps is known exactly from the lengths sent, and the host's speed
    # has no part in it. The continuous sim records no batches.
    data = load_report_data([swept])
    static, continuous = data.series_named("static"), data.series_named("continuous")
    shares = []
    for level in data.levels:
        sent = [r for r in load_records(swept) if r["target"] == "static" and r["level"] == level]
        lengths = [r["max_tokens"] for r in sorted(sent, key=lambda r: r["index"])]
        row_steps = sum(
            len(lengths[k : k + CONCURRENCY]) * max(lengths[k : k + CONCURRENCY])
            for k in range(0, len(lengths), CONCURRENCY)
        )
        formed = static.summaries[level]["server_batches"]
        assert formed["batches"] == REQUESTS // CONCURRENCY
        assert formed["row_step_yield"] == pytest.approx(sum(lengths) / row_steps), (level, lengths)
        assert "server_batches" not in continuous.summaries[level]
        shares.append(formed["row_step_yield"])
    assert shares[0] == 1.0 and shares[0] > shares[1] > shares[2]


def load_records(run_dir: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (run_dir / "requests.jsonl").read_bytes().splitlines()]


def test_every_server_got_the_same_lengths_and_produced_them(swept: Path) -> None:
    records = [r for r in load_records(swept) if not str(r["level"]).startswith("parity")]
    by_request: dict[tuple[object, object], set[object]] = {}
    for r in records:
        assert r["output_tokens"] == r["max_tokens"]
        by_request.setdefault((r["level"], r["index"]), set()).add(r["max_tokens"])
    assert len(by_request) == 3 * REQUESTS and all(len(v) == 1 for v in by_request.values())
    gate = orjson.loads((swept / "parity.json").read_bytes())["gates"][2]
    assert (gate["name"], gate["status"], gate["details"]["paired_requests"]) == ("output_length", "pass", 48)


def test_report_shows_the_sweep_table_plot_and_lengths(swept: Path) -> None:
    markdown = (swept / "report.md").read_text()
    assert "## Output-length variance" in markdown and "## Lengths sent" in markdown
    assert "| fixed:8 | 0.00 | 8.00 |" in markdown
    assert "| static row-steps used | static ms/step |" in markdown
    assert "| 1.00x | 100% | 20." in markdown  # fixed lengths: every row-step makes a token, 20 ms a step
    run = orjson.loads((swept / "run.json").read_bytes())
    assert [level["workload"] for level in run["sweep_levels"]] == [
        "synthetic 8 in / fixed:8 out",
        "synthetic 8 in / uniform:1,15 out",
        "synthetic 8 in / exponential:8 out",
    ]
    pytest.importorskip("matplotlib")
    assert (swept / "variance.png").stat().st_size > 10_000
    assert (swept / "lengths.png").stat().st_size > 10_000


def test_static_batching_needs_a_batch_size() -> None:
    from servers.sim.config import SimConfig

    with pytest.raises(ValueError, match="--batching static needs --max-concurrency"):
        SimConfig(batching="static")
    assert SimConfig(batching="static", max_concurrency=4).batching == "static"


def test_a_subset_of_spreads_keeps_their_order_and_their_lengths() -> None:
    """`--variance-spreads` picks levels, so a sweep of many requests a level can be split over
    runs; each spread's lengths are those of the whole sweep's level."""
    assert getattr(VARIANCE_SPREADS.type, "choices", None) == SPREADS  # the option offers what the sweep has
    assert variance_specs(256) == ["fixed:256", "uniform:1,511", "exponential:256"]
    assert variance_specs(256, ("exponential", "fixed")) == ["fixed:256", "exponential:256"]
    assert variance_specs(1, ("uniform",)) == []  # uniform on 1..1 is not a spread
    tokenizer = model_dir_path()
    if not (tokenizer / "tokenizer.json").is_file():
        pytest.skip("the SmolLM2 tokenizer is not built")
    plan = ComparePlan(levels=(4,), requests_per_level=8, warmup=0, offline_batches=(), seed=3)
    opts: dict[str, Any] = {"sweep": "output-variance", "output_len": 16, "input_len": 8}
    whole = build_compare_workload(compare_settings(opts), plan, str(tokenizer), "completions")
    part = build_compare_workload(
        compare_settings({**opts, "variance_spreads": ("exponential",)}), plan, str(tokenizer), "completions"
    )
    assert whole.levels is not None and part.levels is not None
    assert [lvl.load.tag for lvl in part.levels] == ["output exponential:16"]
    lengths = [[p.output_tokens for p in lvl.prompts] for lvl in whole.levels]
    assert [p.output_tokens for p in part.levels[0].prompts] == lengths[-1]
    with pytest.raises(ConfigError, match="add that sweep"):
        build_compare_workload(
            compare_settings({"variance_spreads": ("fixed",)}), plan, str(tokenizer), "completions"
        )
