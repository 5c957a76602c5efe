"""`benchmarks.claims`: claims.json rows measured from real `loadgen compare` run directories.

The runs compare two scripted servers of known speed (tests/test_compare_sim.py's pair: one three
times slower), so every figure the claims read has a known expected value.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import claims as c
from benchmarks.claims_catalog import CATALOG, measure
from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.run_config import RequestOptions, Target
from loadgen.stats import SLO
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import SimFactory


@pytest.fixture(scope="module")
def pair(sim_server_factory: SimFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """`vllm`: fast; `hf`: three times slower and serving at most 2 requests at once."""
    with (
        sim_server_factory(ttft_ms=20, itl_ms=4, output_tokens=64, model="m") as fast,
        sim_server_factory(ttft_ms=60, itl_ms=12, output_tokens=64, model="m", max_concurrency=2) as slow,
    ):
        yield fast, slow


def compare(
    pair: tuple[ServerProcess, ServerProcess], run_dir: Path, plan: ComparePlan, slo: SLO | None = None
) -> Path:
    """A comparison of the pair as `vllm` and `hf`, written to `run_dir`."""
    fast, slow = pair
    infos = [probe("vllm", fast.base_url), probe("hf", slow.base_url)]
    targets = [Target(i.name, i.base_url, "m") for i in infos]
    prompts = [Prompt(text=f"prompt number {i} " * 4) for i in range(64)]
    request = RequestOptions(max_tokens=12, ignore_eos=True)
    inputs = CompareInputs(infos, targets, prompts, {"kind": "test"}, request, plan, slo=slo, command=["t"])
    Comparison(inputs, run_dir, lambda message: None).run()
    return run_dir


@pytest.fixture(scope="module")
def closed_run(pair: tuple[ServerProcess, ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Closed loop at concurrency 1 and 4, one fixed batch of 4."""
    plan = ComparePlan(levels=(1, 4), requests_per_level=8, warmup=1, offline_batches=(4,))
    return compare(pair, tmp_path_factory.mktemp("claims") / "closed", plan)


@pytest.fixture(scope="module")
def open_run(pair: tuple[ServerProcess, ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Open loop at 4 and 40 requests/s under a 400 ms TTFT SLO: `hf` (2 at a time, ~200 ms each)
    keeps up at 4/s and falls behind at 40/s."""
    plan = ComparePlan(
        mode="open", levels=(4, 40), requests_per_level=40, warmup=0, arrival="constant", offline_batches=()
    )
    return compare(pair, tmp_path_factory.mktemp("claims") / "open", plan, SLO.parse(["ttft:400"]))


def _tok_s(run: Path, target: str, level: str) -> float:
    path = next(run.glob(f"summary-*-{target}-{level}.json"))
    return float(json.loads(path.read_text())["output_throughput"])


def test_throughput_ratio_at_the_highest_level_divides_the_summaries(closed_run: Path) -> None:
    found = c.throughput_ratio(closed_run, None)
    expected = _tok_s(closed_run, "vllm", "concurrency=4") / _tok_s(closed_run, "hf", "concurrency=4")
    assert found.value is not None
    assert found.value == pytest.approx(expected) and found.value > 1  # the slow server is slower
    assert found.ci95 is None  # one run: no interval
    assert "concurrency=4" in found.notes[0]
    at_one = c.throughput_ratio(closed_run, "concurrency=1")
    assert at_one.value == pytest.approx(
        _tok_s(closed_run, "vllm", "concurrency=1") / _tok_s(closed_run, "hf", "concurrency=1")
    )
    assert c.target_throughput(closed_run, "concurrency=1", "hf").value == pytest.approx(
        _tok_s(closed_run, "hf", "concurrency=1")
    )


def test_repeated_levels_give_a_confidence_interval(
    pair: tuple[ServerProcess, ServerProcess], closed_run: Path, tmp_path: Path
) -> None:
    # A second real comparison's summaries beside the first's: several summaries of one target and
    # level, as `loadgen compare --repeats` keeps them.
    second = compare(pair, tmp_path / "second", ComparePlan(levels=(1, 4), requests_per_level=8, warmup=1))
    both = tmp_path / "both"
    shutil.copytree(closed_run, both)
    for i, path in enumerate(sorted(second.glob("summary-*.json"))):
        shutil.copy(path, both / f"summary-9{i}-{path.name.split('-', 2)[2]}")
    found = c.throughput_ratio(both, "concurrency=1")
    assert found.ci95 is not None and found.value is not None
    assert found.ci95[0] < found.value < found.ci95[1]
    assert "mean of 2 repeats" in found.notes


def test_a_run_with_repeats_counts_each_repeat_once_not_its_pooled_summary(
    pair: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    """`--repeats 2` writes a summary per repeat and one pooled over both: the ratio's samples are the
    two repeats (as `seeds tinyllama` now runs), not three."""
    run = compare(
        pair, tmp_path / "repeated", ComparePlan(levels=(2,), requests_per_level=4, warmup=0, repeats=2)
    )
    written = [json.loads(p.read_text()) for p in sorted(run.glob("summary-*-hf-*.json"))]
    assert sum(bool(s.get("pooled")) for s in written) == 1 and len(written) == 3
    per_repeat = [s for s in written if not s.get("pooled")]
    found = c.summaries(run)[("hf", "concurrency=2")]
    assert [s["repeat"] for s in found] == [s["repeat"] for s in per_repeat] == [0, 1]
    ratio = c.throughput_ratio(run, None)
    assert "mean of 2 repeats" in ratio.notes and ratio.ci95 is not None


def test_runs_on_separate_leases_pool_as_repeats(
    pair: tuple[ServerProcess, ServerProcess],
    closed_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Session 1's run and session 2's, as `--repeat-run`: each run's ratio is one repeat.
    second = compare(pair, tmp_path / "second", ComparePlan(levels=(1, 4), requests_per_level=8, warmup=1))
    one, other = (c.throughput_ratio(run, "concurrency=4").value for run in (closed_run, second))
    assert one is not None and other is not None
    row = measure(CATALOG["vllm-hf-n1-7b"], [closed_run], "concurrency=4", repeats=[second])
    assert row.measured == pytest.approx((one + other) / 2)
    assert row.ci95 is not None and row.measured is not None
    assert row.ci95[0] < row.measured < row.ci95[1]
    assert "mean of 2 repeats from 2 runs" in row.notes
    assert row.run_dir == f"{closed_run}, {second}"
    with pytest.raises(c.ClaimError, match="cannot pool"):
        measure(CATALOG["tinyllama-agree-hf-fp16-fp32"], [closed_run, second], None, repeats=[second])
    # A one-server row pools too, its metric bound to the server by a partial.
    hf_alone = measure(CATALOG["tinyllama-hf-fp16-toks"], [closed_run], "concurrency=4", repeats=[second])
    each = [c.target_throughput(run, "concurrency=4", "hf").value for run in (closed_run, second)]
    assert hf_alone.measured == pytest.approx(statistics.fmean(v for v in each if v is not None))
    assert hf_alone.ci95 is not None
    out = tmp_path / "claims.json"
    args = ["add", str(out), "vllm-hf-n1-7b", "--run", str(closed_run), "--repeat-run", str(second)]
    assert c.main([*args, "--level", "concurrency=4"]) == 0
    (written,) = c.read_rows(out)
    assert written.ci95 == pytest.approx(row.ci95)
    assert c.main(["render", str(out)]) == 0
    table = capsys.readouterr().out
    assert re.search(r"\| \d[\d.,]* \(\d[\d.,]*–\d[\d.,]*\) \| x \|", table), table  # measured (interval)


def test_runs_from_two_machines_are_averaged_without_an_interval(
    pair: tuple[ServerProcess, ServerProcess], closed_run: Path, tmp_path: Path
) -> None:
    # Two H100 leases gave 19.4x and 28.0x for one command: an interval over machines would mix the
    # hosts' difference with run-to-run noise. A lease is a fresh boot: its run.json's boot id differs.
    second = compare(pair, tmp_path / "second", ComparePlan(levels=(4,), requests_per_level=8, warmup=1))
    meta = json.loads((second / "run.json").read_text())
    assert (
        meta["machine"]["boot_id"] == json.loads((closed_run / "run.json").read_text())["machine"]["boot_id"]
    )
    same = c.throughput_ratio([closed_run, second], "concurrency=4")
    assert same.ci95 is not None and not any("machines" in note for note in same.notes)
    meta["machine"]["boot_id"] = "another-lease"
    (second / "run.json").write_text(json.dumps(meta))
    apart = c.throughput_ratio([closed_run, second], "concurrency=4")
    assert apart.value == pytest.approx(same.value) and apart.ci95 is None
    assert any("the runs come from 2 machines" in note for note in apart.notes), apart.notes
    del meta["machine"]["boot_id"]  # a run saved before run.json kept it
    (second / "run.json").write_text(json.dumps(meta))
    unknown = c.throughput_ratio([closed_run, second], "concurrency=4")
    assert unknown.ci95 is not None
    assert any("1 run(s) saved before run.json kept the machine's boot id" in n for n in unknown.notes)


def test_offline_batch_seconds_and_ratio(closed_run: Path) -> None:
    vllm, hf = c.offline_seconds(closed_run, 4, "vllm"), c.offline_seconds(closed_run, 4, "hf")
    ratio = c.offline_ratio(closed_run, 4)
    assert vllm.value is not None and hf.value is not None and ratio.value is not None
    assert ratio.value == pytest.approx(hf.value / vllm.value)
    assert ratio.value > 1.0
    assert c.offline_seconds(closed_run, 8, "vllm").value is None


def test_capacity_at_slo_is_the_highest_rate_meeting_it(open_run: Path) -> None:
    assert c.capacity(open_run, "vllm").value == 40
    assert c.capacity(open_run, "hf").value == 4
    assert c.capacity_ratio(open_run).value == pytest.approx(10)


@pytest.fixture(scope="module")
def searched_run(pair: tuple[ServerProcess, ServerProcess], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capacity search from 24 req/s, between 24 and 32, TTFT within 400 ms: `hf` completes about
    10 req/s (2 at a time, 60 + 11 x 12 ms each), so it fails at 24, the lowest rate tried; `vllm`
    passes up to the 32 req/s maximum."""
    plan = ComparePlan(
        mode="open",
        levels=(24,),
        requests_per_level=40,
        warmup=0,
        arrival="constant",
        offline_batches=(),
        capacity_search=True,
        capacity_max_rate=32,
        capacity_min_rate=24,
        capacity_steps=4,
    )
    return compare(pair, tmp_path_factory.mktemp("claims") / "searched", plan, SLO.parse(["ttft:400"]))


def test_capacity_from_a_search_is_a_bound_where_the_search_hit_its_range(
    searched_run: Path, tmp_path: Path
) -> None:
    saved = json.loads((searched_run / "capacity.json").read_text())
    hf = next(r for r in saved["results"] if r["target"] == "hf")
    assert hf["stopped"] == "below-range" and hf["capacity_rps"] is None
    assert [p["rate"] for p in hf["probes"]] == [24]
    # so many of its requests missed the TTFT limit that it could not pass: it ended there
    assert hf["probes"][0]["ended_early"] and hf["probes"][0]["requests"] == 40
    assert hf["probes"][0]["met_slo"] < 36
    vllm = c.capacity(searched_run, "vllm")
    assert (vllm.value, vllm.bound) == (32, "lower")
    slow = c.capacity(searched_run, "hf")
    assert (slow.value, slow.bound) == (24, "upper") and "below 24 req/s" in slow.notes[0]
    ratio = c.capacity_ratio(searched_run)
    assert ratio.value == pytest.approx(32 / 24) and ratio.bound == "lower"
    assert c.capacity_ratio(searched_run, "hf", "vllm").bound == "upper"
    path = tmp_path / "claims.json"
    c.upsert(path, measure(CATALOG["llama2-7b-traffic"], [searched_run], None))
    row = c.read_rows(path)[0]
    assert row.bound == "lower" and "| ≥ 1.33 |" in c.render([row])
    assert row.notes.startswith("searched 24–32 req/s; ")  # the run's own range, not a fixed one


def test_highest_error_free_concurrency(closed_run: Path, tmp_path: Path) -> None:
    clean = c.max_clean_level(closed_run, "hf")
    assert clean.value == 4 and "lower bound" in clean.notes[0] and clean.bound == "lower"
    # Neither server failed: two lower bounds give no ratio.
    neither = c.clean_level_ratio(closed_run)
    assert neither.value is None and "no ratio" in neither.notes[-1]
    failing = tmp_path / "failing"
    shutil.copytree(closed_run, failing)
    path = next(failing.glob("summary-*-hf-concurrency=4.json"))
    summary = json.loads(path.read_text())
    path.write_text(json.dumps({**summary, "failed": 3}))
    found = c.max_clean_level(failing, "hf")
    assert found.value == 1 and "first errors at concurrency=4: 3 failed" in found.notes[0]
    assert found.bound is None
    # vLLM failed no level (at least 4), HF first failed at 4: at least 4x.
    ratio = c.clean_level_ratio(failing)
    assert ratio.value == pytest.approx(4) and ratio.bound == "lower"
    assert c.clean_level_ratio(failing, subject="hf", baseline="vllm").bound == "upper"


def test_a_finer_sweep_run_later_merges_with_the_first_run(
    pair: tuple[ServerProcess, ServerProcess], closed_run: Path, tmp_path: Path
) -> None:
    """Write-up 3's search: a first run at 1 and 4 where HF first failed at 4, then a run at 2 in
    between. The rows read both as one sweep, levels in load order: the HF server's most concurrent
    requests is 2 when the level 2 was clean, and still 1 when it failed."""
    first = tmp_path / "first"
    shutil.copytree(closed_run, first)
    path = next(first.glob("summary-*-hf-concurrency=4.json"))
    path.write_text(json.dumps({**json.loads(path.read_text()), "failed": 3}))
    finer = compare(pair, tmp_path / "finer", ComparePlan(levels=(2,), requests_per_level=4, warmup=0))
    hf = measure(CATALOG["qwen-hf-max-concurrency"], [first, finer], None)
    assert hf.measured == 2 and hf.bound is None and "first errors at concurrency=4" in hf.notes
    assert hf.run_dir == f"{first}, {finer}"
    vllm = measure(CATALOG["qwen-vllm-max-concurrency"], [finer, first], None)
    assert (vllm.measured, vllm.bound) == (4, "lower")
    ratio = measure(CATALOG["qwen-concurrency-ratio"], [first, finer], None)
    assert ratio.measured == pytest.approx(2) and ratio.bound == "lower"
    path = next(finer.glob("summary-*-hf-concurrency=2.json"))
    path.write_text(json.dumps({**json.loads(path.read_text()), "failed": 1}))
    failed_between = c.max_clean_level([first, finer], "hf")
    assert failed_between.value == 1 and failed_between.notes == ["first errors at concurrency=2: 1 failed"]


def test_vllms_clean_level_notes_the_room_its_kv_cache_has(closed_run: Path, tmp_path: Path) -> None:
    """vLLM queues what its KV cache cannot hold, so its clean level is a lower bound: the row says
    how many of the run's requests its cache holds at once, from the size vLLM's log states."""
    run = tmp_path / "run"
    shutil.copytree(closed_run, run)
    assert c.kv_cache_room(run) is None  # no vLLM log: no note
    assert "KV cache" not in " ".join(c.clean_level_ratio(run).notes)
    (run / "logs").mkdir(exist_ok=True)
    (run / "logs" / "vllm.log").write_text(
        "(EngineCore pid=1) INFO [kv_cache_utils.py:2327] GPU KV cache size: 231,424 tokens, "
        "Maximum concurrency for 2,048 tokens per request: 113.00x\n"
    )
    meta = json.loads((run / "run.json").read_text())
    meta["workload"] = {**meta["workload"], "input_len": 512, "output_len": 128}
    (run / "run.json").write_text(json.dumps(meta))
    found = c.vllm_max_clean_level(run)
    assert found.value == c.max_clean_level(run, "vllm").value and found.bound == "lower"
    room = "vLLM's log: a KV cache of 231,424 tokens, room for 361 requests of 640 tokens at once"
    assert found.notes[-1] == room
    row = measure(CATALOG["qwen-vllm-max-concurrency"], [run], None)
    assert "room for 361 requests" in row.notes
    hf_level = c.max_clean_level(run, "hf").value
    assert hf_level
    ratio = measure(CATALOG["qwen-concurrency-ratio"], [run], None)
    assert f"{room}: {361 / hf_level:.2g}x hf's {hf_level:g} by that count" in ratio.notes


def test_agreement_reads_the_parity_gate(closed_run: Path) -> None:
    found = c.agreement(closed_run, "vllm")
    # The scripted servers stream the same text for the same prompt: full agreement.
    assert found.value == pytest.approx(100.0)
    same = c.cross_run_agreement(closed_run, closed_run, "hf")
    assert same.value == pytest.approx(100.0) and "8 of 8" in same.notes[0]


def test_cross_run_agreement_finds_a_tokenizer_committed_beside_the_runs(
    closed_run: Path, smollm2_dir: Path, tmp_path: Path
) -> None:
    """A results directory read on another machine: run.json names the host's tokenizer, which is
    not here. Without one the outputs compare by characters; with a `tokenizer.json` committed in
    the results directory, by tokens, as on the host. The notes say which."""
    results = tmp_path / "results"
    runs = [results / "fp16", results / "fp32"]
    for run in runs:
        shutil.copytree(closed_run, run)
        meta = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**meta, "tokenizer": "/root/models/gone-shape"}))
    # one output differs from its fp32 counterpart after a common start
    path = runs[1] / "parity.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    first = next(r for r in records if r["target"] == "hf")
    first["output_text"] = (first["output_text"] or "")[:6] + " something else entirely"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert c.run_tokenizer(runs[0]) is None
    by_characters = c.cross_run_agreement(runs[0], runs[1], "hf")
    assert "prefix in characters" in by_characters.notes
    shutil.copy(smollm2_dir / "tokenizer.json", results / "tokenizer.json")
    assert c.run_tokenizer(runs[0]) == (results / "tokenizer.json").resolve()
    by_tokens = c.cross_run_agreement(runs[0], runs[1], "hf")
    assert "prefix in tokens" in by_tokens.notes and "7 of 8 outputs identical" in by_tokens.notes
    assert by_tokens.value is not None and by_characters.value is not None
    assert by_tokens.value < 100 and by_tokens.value != pytest.approx(by_characters.value)


def test_a_catalogued_claim_becomes_a_row_and_the_table_shows_it(closed_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "claims.json"
    row = measure(CATALOG["vllm-hf-n1-7b"], [closed_run], None, note="test run")
    c.upsert(path, row)
    c.upsert(path, measure(CATALOG["tgi-3.5x"], [], None))
    c.upsert(path, measure(CATALOG["vllm-hf-n1-7b"], [closed_run], "concurrency=1"))  # replaces the row
    rows = c.read_rows(path)
    assert [r.id for r in rows] == ["vllm-hf-n1-7b", "tgi-3.5x"]
    assert rows[0].claimed_low == 14.0 and rows[0].claimed_high == 24.0 and rows[0].unit == "x"
    assert rows[0].measured is not None and "concurrency=1" in rows[0].notes
    assert rows[1].measured is None and "TGI is not in scope" in rows[1].notes
    table = c.render(rows)
    assert "| 14–24 |" in table and "| up to 3.5 | – |" in table
    raw = json.loads(path.read_text())
    assert set(raw[0]) == {
        "issue", "id", "claim", "source", "setting", "claimed_low", "claimed_high", "measured", "unit",
        "ci95", "notes", "run_dir", "bound",
    }  # fmt: skip


def test_the_row_names_the_gpu_the_run_had(closed_run: Path, tmp_path: Path) -> None:
    assert measure(CATALOG["vllm-hf-n1-7b"], [closed_run], None).setting == CATALOG["vllm-hf-n1-7b"].setting
    run = tmp_path / "gpu-run"
    shutil.copytree(closed_run, run)
    meta = json.loads((run / "run.json").read_text())
    meta["machine"]["gpus"] = ["NVIDIA H100 80GB HBM3 (81559 MiB)"]
    (run / "run.json").write_text(json.dumps(meta))
    setting = measure(CATALOG["vllm-hf-n1-7b"], [run], None).setting
    assert setting.startswith("LLaMA-7B shape, each server 90% of an A10G's memory")
    assert setting.endswith("; measured on NVIDIA H100 80GB HBM3 (81559 MiB)")


def test_cli_add_merge_render(closed_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, joined = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "claims.json"
    assert c.main(["add", str(a), "l32-3b-ratio-b4-o64", "--run", str(closed_run)]) == 0
    assert c.main(["add", str(b), "tgi-3.5x", "--note", "first", "--note", "second"]) == 0
    assert c.read_rows(b)[0].notes.endswith("; first; second")
    assert c.main(["merge", str(joined), str(a), str(b)]) == 0
    assert [r.id for r in c.read_rows(joined)] == ["l32-3b-ratio-b4-o64", "tgi-3.5x"]
    capsys.readouterr()
    assert c.main(["render", str(joined)]) == 0
    assert "Llama-3.2-3B" in capsys.readouterr().out
    assert c.main(["add", str(a), "vllm-hf-n1-7b", "--run", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_every_catalogued_claim_states_its_setting_and_unit() -> None:
    for claim in CATALOG.values():
        assert claim.issue in (11, 12) and claim.setting and claim.unit and claim.source
        if claim.claimed_low is not None and claim.claimed_high is not None:
            assert claim.claimed_low <= claim.claimed_high


def test_a_capacity_json_without_burst_flags_is_judged_from_its_records() -> None:
    # The H100 run of 2026-12-06 (before probes were judged for bursts): vLLM passed every probe up to
    # 16 req/s, each on arrivals spanning under 3 median latencies (80 requests in 5.6 s, E2E p50
    # 3.4 s at 16 req/s); the HF server failed at every rate down to 0.25 req/s.
    run = Path(__file__).resolve().parents[1] / "docs" / "results" / "2026-12-06-claims" / "capacity-7b"
    vllm = c.capacity(run, "vllm")
    assert vllm.value is None and "burst at 2, 4, 8, 16 req/s" in vllm.notes[0]
    hf = c.capacity(run, "hf")
    assert (hf.value, hf.bound) == (0.25, "upper")
    assert c.capacity_ratio(run).value is None


REPO = Path(__file__).resolve().parents[1]
COMMITTED_ROWS = [
    (path, row)
    for path in sorted((REPO / "docs" / "results").glob("*/claims.json"))
    for row in c.read_rows(path)
    if row.run_dir
]


@pytest.mark.parametrize(
    ("path", "row"), COMMITTED_ROWS, ids=[f"{p.parent.name}:{r.id}" for p, r in COMMITTED_ROWS]
)
def test_every_committed_claims_row_is_measured_again_from_its_run_directories(
    path: Path, row: c.ClaimRow
) -> None:
    # A published figure must follow from the files committed beside it, by the code in this tree.
    runs = [REPO / part for part in (row.run_dir or "").split(", ")]
    assert all(run.is_dir() for run in runs), f"{path}: {row.run_dir} is not committed"
    claim = CATALOG[row.id]
    # A claim of one run lists its repeats after it; the others read every run they list.
    read, repeats = (runs[:1], runs[1:]) if claim.runs == 1 else (runs, [])
    again = measure(claim, read, None, repeats=repeats)
    assert again.bound == row.bound
    assert (again.ci95 is None) == (row.ci95 is None)
    if row.ci95 is not None:
        assert again.ci95 == pytest.approx(row.ci95, rel=1e-9)
    if row.measured is None:
        assert again.measured is None
    else:
        assert again.measured == pytest.approx(row.measured, rel=1e-9)


VARIANCE_RUN = Path(__file__).parent.parent / "docs/results/2026-12-06f-claims-variance-7b/variance-7b"


def test_the_variance_claims_read_a_sweep_split_over_runs(tmp_path: Path) -> None:
    """A sweep with many requests a level is run in parts (`--variance-spreads`): the two variance
    rows read the parts together, whatever order they are given in, as they read the whole sweep."""
    whole_largest, whole_fall = c.ratio_extremes(VARIANCE_RUN), c.throughput_change(VARIANCE_RUN)
    assert whole_largest.value == pytest.approx(17.40, abs=0.01)
    assert whole_fall.value == pytest.approx(0.463, abs=0.001)
    narrow, wide = tmp_path / "fixed-uniform", tmp_path / "exponential"
    for part, spreads in ((narrow, ("fixed", "uniform")), (wide, ("exponential",))):
        part.mkdir()
        shutil.copy(VARIANCE_RUN / "run.json", part)
        for summary in VARIANCE_RUN.glob("summary-*.json"):
            if any(f"output_{spread}" in summary.name for spread in spreads):
                shutil.copy(summary, part)
    largest = measure(CATALOG["static-batching-variance"], [wide, narrow], None)
    assert largest.measured == pytest.approx(whole_largest.value)
    fall = measure(CATALOG["static-batching-falls"], [wide, narrow], None)
    assert fall.measured == pytest.approx(whole_fall.value)
    assert "output fixed:256 concurrency=64 -> 161 at output exponential:256" in fall.notes
    with pytest.raises(c.ClaimError, match="read the run of a variance sweep"):
        measure(CATALOG["static-batching-falls"], [], None)
