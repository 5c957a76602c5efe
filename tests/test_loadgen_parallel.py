"""`loadgen --n N` (parallel sampling): every choice's tokens count, TTFT is the first text of any
choice, ITL runs within each choice's stream, and the parity gate bounds totals by n * max_tokens."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadgen.client.recorder import ResponseRecorder
from loadgen.client.request import request_body
from loadgen.compare.parity import output_length_gate
from loadgen.compare.plan import ComparePlan
from loadgen.compare.run import CompareInputs, Comparison
from loadgen.compare.targets import probe
from loadgen.record import RequestRecord
from loadgen.results import load_run
from loadgen.run_config import RequestOptions, Target
from loadgen.workloads.base import Prompt
from tests.fixtures.procs import ServerProcess
from tests.fixtures.sim import SimFactory
from tests.test_cli import loadgen


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _chunk(index: int, text: str, reason: str | None = None) -> bytes:
    choice = {"index": index, "delta": {"content": text}, "logprobs": None, "finish_reason": reason}
    return _event({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})


def _record(n: int, stream: bool = True) -> RequestRecord:
    return RequestRecord(request_id="r", target="t", index=0, api="chat", stream=stream, send_ns=0, n=n)


def test_interleaved_choices_are_counted_and_timed_per_choice() -> None:
    """A vLLM-shaped chat stream with n=2: role chunks, then the choices' tokens interleaved."""
    recorder = ResponseRecorder(_record(2), keep_text=True, counter=None)
    recorder.on_status(200, 1)
    role = {"role": "assistant", "content": ""}
    pieces = [
        _event({"choices": [{"index": 0, "delta": role, "finish_reason": None}]}),
        _event({"choices": [{"index": 1, "delta": role, "finish_reason": None}]}),
        _chunk(1, "B1"),  # choice 1 speaks first: TTFT is the first text of any choice
        _chunk(0, "A1"),
        _chunk(0, "A2"),
        _chunk(1, "B2"),
        _chunk(0, "A3", "length"),
        _chunk(1, "B3", "length"),
        _event({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}}),
        b"data: [DONE]\n\n",
    ]
    stamps = [10, 11, 20, 25, 40, 50, 70, 90, 91, 92]
    for piece, stamp in zip(pieces, stamps, strict=True):
        recorder.on_body(piece, stamp)
    record = recorder.finish(100)
    assert record.ok and record.output_tokens == 6 and record.tokens_source == "usage"
    assert record.ttft_ns == 20
    assert record.content_choice == [1, 0, 0, 1, 0, 1]
    assert record.choice_tokens == [3, 3]
    assert sorted(record.itls_ns) == sorted([40 - 25, 70 - 40, 50 - 20, 90 - 50])  # within each choice
    assert record.tpot_ns == (100 - 20) / (3 - 1)  # the longest choice's 3 tokens
    assert record.output_text == "A1A2A3B1B2B3"


def test_whole_body_with_n_choices() -> None:
    recorder = ResponseRecorder(_record(3, stream=False), keep_text=False, counter=None)
    recorder.on_status(200, 1)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": "xy"}, "finish_reason": "stop"}
        for i in range(3)
    ]
    body = {"choices": choices, "usage": {"prompt_tokens": 2, "completion_tokens": 9}}
    recorder.on_body(orjson.dumps(body), 30)
    record = recorder.finish(40)
    assert record.ok and record.output_tokens == 9 and record.content_choice == [0, 1, 2]
    assert record.ttft_ns == 30 and record.choice_tokens is None  # unknown without a tokenizer


def test_request_body_asks_for_n() -> None:
    target = Target("t", "http://127.0.0.1:1", "m")
    prompt = Prompt(text="hi")
    assert request_body(target, RequestOptions(n=3, temperature=1.0), prompt)["n"] == 3
    assert "n" not in request_body(target, RequestOptions(), prompt)


def test_output_length_gate_bounds_the_total_by_n_times_max_tokens() -> None:
    def rec(target: str, tokens: int) -> RequestRecord:
        return RequestRecord(
            request_id=target,
            target=target,
            index=0,
            api="completions",
            stream=True,
            send_ns=0,
            output_tokens=tokens,
            max_tokens=8,
            n=3,
            level="c=1",
        )

    assert output_length_gate([rec("a", 24), rec("b", 24)], ignore_eos=True).status == "pass"
    failed = output_length_gate([rec("a", 24), rec("b", 25)], ignore_eos=True)
    assert failed.status == "fail" and "longer than max_tokens" in failed.summary


def test_n_above_one_with_greedy_decoding_is_a_one_line_error(tmp_path: Path) -> None:
    proc = loadgen("run", "--sim", "--n", "2", "--num-requests", "1", "--output-dir", str(tmp_path / "r"))
    assert proc.returncode != 0
    assert "--temperature above 0" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("api", ["completions", "chat"])
@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_loadgen_counts_every_choice_against_the_sim_server(
    sim_server: ServerProcess, tmp_path: Path, api: str, stream: str
) -> None:
    out = tmp_path / "run"
    proc = loadgen(
        "run", "--base-url", sim_server.base_url, "--api", api, stream, "--n", "3", "--temperature", "1",
        "--max-tokens", "5", "--ignore-eos", "--concurrency", "2", "--num-requests", "4",
        "--num-prompts", "4", "--input-len", "8", "--output-dir", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = load_run(out)
    records = run.records()
    assert len(records) == 4 and all(r.ok and r.n == 3 for r in records)
    per_choice = [5, 5, 5] if stream == "--stream" else None
    assert all(r.output_tokens == 15 and r.choice_tokens == per_choice for r in records)
    assert run.summaries[0]["total_output_tokens"] == 4 * 15
    if stream == "--stream":
        assert all(sorted(set(r.content_choice or [])) == [0, 1, 2] for r in records)
        itl_ms = run.summaries[0]["mean_itl_ms"]
        # within one choice, 5 tokens span the stream that the merged 15 stamps fill: gaps ~3.5x the
        # merged stream's (robust to a loaded scripted server sending late tokens in bursts)
        merged = [b - a for r in records for a, b in itertools.pairwise(sorted(r.content_ns))]
        merged_ms = sum(merged) / len(merged) / 1e6
        assert itl_ms > 2 * merged_ms, "ITL is within one choice, not over the merged stream"


def test_a_comparison_with_n_3_passes_its_gates_and_counts_every_choice(
    sim_server_factory: SimFactory, tmp_path: Path
) -> None:
    """`compare --n 3` on two scripted servers: the greedy probe stays at one choice, the sweep's
    requests carry 3 x max_tokens each, and the output-length gate passes on those totals."""
    with (
        sim_server_factory(ttft_ms=5, itl_ms=1, output_tokens=64, model="m") as a,
        sim_server_factory(ttft_ms=5, itl_ms=2, output_tokens=64, model="m") as b,
    ):
        infos = [probe("a", a.base_url), probe("b", b.base_url)]
        targets = [Target(i.name, i.base_url, "m") for i in infos]
        prompts = [Prompt(text=f"prompt number {i} " * 4) for i in range(8)]
        request = RequestOptions(max_tokens=6, ignore_eos=True, n=3, temperature=1.0)
        plan = ComparePlan(levels=(2,), requests_per_level=4, warmup=1, offline_batches=(), baseline="b")
        inputs = CompareInputs(infos, targets, prompts, {"kind": "test"}, request, plan, command=["test"])
        outcome = Comparison(inputs, tmp_path / "run", lambda message: None).run()
    assert outcome.exit_code == 0, outcome.parity.to_dict()
    parity = outcome.parity.to_dict()
    assert all(gate["status"] == "pass" for gate in parity["gates"]), parity
    records = [orjson.loads(line) for line in (tmp_path / "run" / "requests.jsonl").read_bytes().splitlines()]
    sweep = [r for r in records if not r["warmup"]]
    assert sweep and all(r["n"] == 3 and r["output_tokens"] == 18 for r in sweep)
    probes = [orjson.loads(line) for line in (tmp_path / "run" / "parity.jsonl").read_bytes().splitlines()]
    assert probes and all(r["n"] == 1 for r in probes)
