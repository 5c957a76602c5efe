"""`loadgen compare` with every workload kind against two scripted servers: the same prompts, in the same
order, with each prompt's own output length (`max_tokens`) on every server; the workload recorded in
`run.json` and the lengths sent shown in the report. Also the command line end to end (JSONL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.compare.workload import build_compare_workload
from loadgen.report.build import write_report
from loadgen.run_config import RequestOptions, Target
from loadgen.settings.compare import compare_settings
from loadgen.workloads import count_tokens, load_tokenizer
from loadgen.workloads.sharegpt import CACHE_ENV
from tests.fixtures.model import model_dir_path
from tests.fixtures.procs import REPO_ROOT, ServerProcess
from tests.fixtures.sim import SimFactory

REQUESTS = 6
ANSWERS = [4, 9, 5, 14, 7, 11, 6, 8, 10, 12]
"""Words in each ShareGPT answer (the sim server generates one token per requested max_tokens)."""


@pytest.fixture(scope="module")
def pair(sim_server_factory: SimFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with (
        sim_server_factory(ttft_ms=5, itl_ms=1, model="m") as a,
        sim_server_factory(ttft_ms=10, itl_ms=2, model="m") as b,
    ):
        yield a, b


@pytest.fixture(scope="module")
def tokenizer_dir() -> str:
    path = model_dir_path()
    if not (path / "tokenizer.json").is_file():
        pytest.skip("the SmolLM2 tokenizer is not built")
    return str(path)


def sharegpt_file(directory: Path) -> Path:
    entries = [
        {
            "id": str(i),
            "conversations": [
                {
                    "from": "human",
                    "value": f"Question number {i}: tell me about the colour of the sky today.",
                },
                {"from": "gpt", "value": " ".join(["word"] * n)},
            ],
        }
        for i, n in enumerate(ANSWERS)
    ]
    path = directory / "sharegpt.json"
    path.write_text(json.dumps(entries))
    return path


def compare(
    pair: tuple[ServerProcess, ServerProcess], opts: dict[str, Any], tokenizer: str | None, run_dir: Path
) -> tuple[list[Any], Path]:
    plan = ComparePlan(
        levels=(2,),
        requests_per_level=REQUESTS,
        warmup=0,
        offline_batches=(),
        probe_prompts=1,
        probe_tokens=2,
    )
    settings = compare_settings({"input_len": 8, "output_len": 4, **opts})
    built = build_compare_workload(settings, plan, tokenizer, "completions")
    infos = [probe("a", pair[0].base_url), probe("b", pair[1].base_url)]
    targets = [Target(i.name, i.base_url, "m") for i in infos]
    inputs = CompareInputs(
        infos,
        targets,
        built.prompts,
        built.description,
        RequestOptions(max_tokens=4, ignore_eos=True),
        plan,
        command=["t"],
    )
    outcome = Comparison(inputs, run_dir, lambda message: None).run()
    assert outcome.exit_code == 0, outcome.parity.to_dict()
    write_report([run_dir])
    return built.prompts, run_dir


def sweep_records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "requests.jsonl").read_bytes().splitlines()
    return [r for r in map(orjson.loads, lines) if r["level"] == "concurrency=2"]


def check_each_prompt_kept_its_length(prompts: list[Any], run_dir: Path) -> None:
    records = sweep_records(run_dir)
    assert {r["target"] for r in records} == {"a", "b"} and len(records) == 2 * REQUESTS
    for r in records:
        asked = prompts[r["index"] % len(prompts)].output_tokens
        assert r["max_tokens"] == asked and r["output_tokens"] == asked, r
    gate = orjson.loads((run_dir / "parity.json").read_bytes())["gates"][2]
    assert gate["status"] == "pass" and gate["details"]["paired_requests"] == REQUESTS


def test_synthetic_lengths_drawn_from_distributions(
    pair: tuple[ServerProcess, ServerProcess], tokenizer_dir: str, tmp_path: Path
) -> None:
    opts = {"input_len_dist": "uniform:4,20", "output_len_dist": "uniform:2,12"}
    prompts, run_dir = compare(pair, opts, tokenizer_dir, tmp_path / "run")
    assert len({p.output_tokens for p in prompts}) > 3 and len({p.prompt_tokens for p in prompts}) > 3
    check_each_prompt_kept_its_length(prompts, run_dir)
    workload = orjson.loads((run_dir / "run.json").read_bytes())["workload"]
    assert workload["kind"] == "synthetic" and workload["output_len_dist"] == "uniform:2,12"
    assert workload["name"] == "synthetic uniform:4,20 in / uniform:2,12 out"
    assert "## Lengths sent" in (run_dir / "report.md").read_text()


def test_sharegpt_asks_each_conversation_for_its_answer_length(
    pair: tuple[ServerProcess, ServerProcess],
    tokenizer_dir: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = sharegpt_file(tmp_path)
    prompts, run_dir = compare(
        pair, {"workload": "sharegpt", "dataset_path": str(path)}, tokenizer_dir, tmp_path / "r"
    )
    tokenizer = load_tokenizer(tokenizer_dir)
    answers = {count_tokens(tokenizer, " ".join(["word"] * n)) for n in ANSWERS}
    assert {p.output_tokens for p in prompts} <= answers and len({p.output_tokens for p in prompts}) > 3
    check_each_prompt_kept_its_length(prompts, run_dir)
    workload = orjson.loads((run_dir / "run.json").read_bytes())["workload"]
    assert (workload["kind"], workload["name"], workload["path"]) == (
        "sharegpt",
        "ShareGPT lengths",
        str(path),
    )
    assert workload["max_prompt_len"] == 1024 and "output_len" not in workload


def test_jsonl_lines_bring_their_own_max_tokens(
    pair: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": f"question {i}?", "max_tokens": 2 + 3 * i}) + "\n" for i in range(4))
    )
    prompts, run_dir = compare(pair, {"workload": "jsonl", "dataset_path": str(path)}, None, tmp_path / "run")
    assert [p.output_tokens for p in prompts[:4]] == [2, 5, 8, 11]
    check_each_prompt_kept_its_length(prompts, run_dir)


def test_compare_command_runs_a_jsonl_workload(
    pair: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q {i}", "max_tokens": 3 + i}) + "\n" for i in range(5)))
    out = tmp_path / "run"
    env = {**os.environ, "SERVEBENCH_MODEL_DIR": str(tmp_path / "no-model")}  # no tokenizer: sim counts words
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "compare",
            f"a={pair[0].base_url}",
            f"b={pair[1].base_url}",
            "--workload",
            "jsonl",
            "--dataset-path",
            str(path),
            "--concurrency",
            "2",
            "--num-requests",
            "5",
            "--warmup",
            "0",
            "--offline-batches",
            "none",
            "--probe-prompts",
            "1",
            "--probe-tokens",
            "2",
            "--max-output-len",
            "6",
            "--output-dir",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    records = sweep_records(out)
    assert sorted((r["target"], r["index"], r["max_tokens"]) for r in records) == [
        (t, i, min(3 + i, 6)) for t in ("a", "b") for i in range(5)
    ]
    workload = orjson.loads((out / "run.json").read_bytes())["workload"]
    assert workload["name"] == f"prompts of {path}, output capped at 6"
    assert "output lengths capped at 6 tokens" in (out / "report.md").read_text()


def test_a_realistic_level_beside_a_synthetic_sweep(
    pair: tuple[ServerProcess, ServerProcess],
    tokenizer_dir: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo's shape: the synthetic sweep, then one ShareGPT level of conversations with short answers,
    each request asking for its answer's length."""
    from loadgen.report.console import summary_table, verdict_lines
    from loadgen.report.data import load_report_data

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    opts = {
        "realistic_level": True,
        "realistic_concurrency": 2,
        "realistic_requests": 6,
        "realistic_max_answer_len": 9,
        "realistic_max_prompt_len": 512,
        "realistic_dataset_path": str(sharegpt_file(tmp_path)),
    }
    plan = ComparePlan(
        levels=(1, 2), requests_per_level=4, warmup=0, offline_batches=(), probe_prompts=1, probe_tokens=2
    )
    settings = compare_settings({"input_len": 8, "output_len": 4, **opts})
    built = build_compare_workload(settings, plan, tokenizer_dir, "completions")
    assert built.levels is not None
    assert [lvl.load.label for lvl in built.levels] == [
        "concurrency=1",
        "concurrency=2",
        "sharegpt concurrency=2",
    ]
    realistic = built.levels[-1]
    tokenizer = load_tokenizer(tokenizer_dir)
    short = sorted(count_tokens(tokenizer, " ".join(["word"] * n)) for n in ANSWERS if n <= 9)
    assert realistic.extra and sorted(p.output_tokens or 0 for p in realistic.prompts) == short
    infos = [probe("a", pair[0].base_url), probe("b", pair[1].base_url)]
    targets = [Target(i.name, i.base_url, "m") for i in infos]
    inputs = CompareInputs(
        infos,
        targets,
        built.prompts,
        built.description,
        RequestOptions(max_tokens=4, ignore_eos=True),
        plan,
        command=["t"],
        levels=built.levels,
    )
    run_dir = tmp_path / "run"
    assert Comparison(inputs, run_dir, lambda message: None).run().exit_code == 0
    write_report([run_dir])
    data = load_report_data([run_dir])
    assert data.levels == ["concurrency=1", "concurrency=2"]
    assert data.extra_levels == ["sharegpt concurrency=2"]
    assert "sharegpt concurrency=2" in summary_table(data)
    assert any(
        line.startswith("On ShareGPT lengths (answers of at most 9 tokens)") for line in verdict_lines(data)
    )
    records = [r for r in map(orjson.loads, (run_dir / "requests.jsonl").read_bytes().splitlines())]
    sent = sorted(
        (r["index"], r["max_tokens"])
        for r in records
        if r["level"] == "sharegpt concurrency=2" and r["target"] == "a"
    )
    assert sent == [(i, realistic.prompts[i].output_tokens) for i in range(6)]
    markdown = (run_dir / "report.md").read_text()
    assert "## Beside the sweep: realistic traffic" in markdown
    assert "| ShareGPT lengths (answers of at most 9 tokens) | input |" in markdown
