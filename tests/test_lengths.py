"""Length distributions of a workload (`loadgen.workloads.lengths`) and synthetic prompts drawn from them."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from loadgen.workloads import WorkloadSpec, build_prompts, count_tokens, load_tokenizer
from loadgen.workloads.lengths import describe_lengths, parse_length_dist
from loadgen.workloads.options import describe_workload
from tests.fixtures.model import model_dir_path

N = 20_000


@pytest.mark.parametrize(
    ("text", "spec", "mean", "cv"),
    [
        ("fixed:32", "fixed:32", 32, 0.0),
        (" Uniform: 1, 63 ", "uniform:1,63", 32, math.sqrt((63**2 - 1) / 12) / 32),
        ("exponential:64", "exponential:64", 64, 1.0),
        ("exponential:64,512", "exponential:64,512", 64, 1.0),
        ("normal:100,25", "normal:100,25", 100, 0.25),
    ],
)
def test_specs_parse_to_their_canonical_form_and_nominal_moments(
    text: str, spec: str, mean: float, cv: float
) -> None:
    dist = parse_length_dist(text)
    assert (dist.spec, dist.mean) == (spec, mean)
    assert dist.cv == pytest.approx(cv)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("poisson:3", "expected fixed:N | uniform:LO,HI"),
        ("fixed", "expected fixed:N"),
        ("fixed:1,2", "expected fixed:N"),
        ("uniform:5", "expected uniform:LO,HI"),
        ("fixed:ten", "'ten' is not a number"),
        ("fixed:-4", "cannot be negative"),
        ("normal:100,-1", "cannot be negative"),
        ("fixed:0", "at least 1 token"),
        ("fixed:2.5", "whole token counts"),
        ("uniform:10,5", "LO must not exceed HI"),
        ("exponential:64,32", "MAX must be at least the MEAN"),
        ("exponential:0.5", "the mean must be at least 1"),
        ("normal:nan,1", "not a finite number"),
    ],
)
def test_specs_that_cannot_be_sampled_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_length_dist(text, "--output-len-dist")
    assert str(info.value).startswith(f"--output-len-dist {text!r}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["fixed:7", "uniform:3,40", "exponential:20,200", "normal:30,10"])
def test_sampling_is_seeded(text: str) -> None:
    dist = parse_length_dist(text)
    first = dist.sample(200, random.Random(5)).values
    assert first == dist.sample(200, random.Random(5)).values
    assert all(isinstance(v, int) and v >= 1 for v in first)
    if not text.startswith("fixed"):
        assert first != dist.sample(200, random.Random(6)).values


def _within(values: list[int], mean: float, std: float, sigmas: float = 5.0) -> None:
    """The sample mean lies within `sigmas` standard errors of `mean` (a false alarm: < 1e-6)."""
    sample = sum(values) / len(values)
    assert abs(sample - mean) < sigmas * std / math.sqrt(len(values)), (sample, mean)


def test_uniform_draws_cover_the_range_with_its_mean_and_spread() -> None:
    values = parse_length_dist("uniform:1,63").sample(N, random.Random(0)).values
    std = math.sqrt((63**2 - 1) / 12)
    _within(values, 32, std)
    assert (min(values), max(values)) == (1, 63)
    assert describe_lengths(values)["cv"] == pytest.approx(std / 32, rel=0.03)


def test_exponential_draws_have_the_mean_and_a_cv_near_one_and_respect_max() -> None:
    dist = parse_length_dist("exponential:64")
    drawn = dist.sample(N, random.Random(0))
    # round() and the clamp to >= 1 shift the mean of Exp(64) by well under a token
    _within(drawn.values, 64, 64)
    assert describe_lengths(drawn.values)["cv"] == pytest.approx(1.0, abs=0.05)
    assert 0 < drawn.clamped < 0.02 * N  # P(round(X) = 0) = 1 - exp(-0.5/64), about 0.8%
    capped = parse_length_dist("exponential:64,100").sample(N, random.Random(0))
    assert max(capped.values) == 100
    expected_over = math.exp(-100.5 / 64)  # P(round(X) > 100)
    assert capped.clamped == pytest.approx(drawn.clamped + expected_over * N, rel=0.15)


def test_normal_draws_are_clamped_to_one_and_say_how_many() -> None:
    drawn = parse_length_dist("normal:4,4").sample(N, random.Random(0))
    assert min(drawn.values) == 1
    share = drawn.clamped / N  # P(round(X) < 1) = P(X < 0.5) = Phi(-0.875), about 19%
    assert share == pytest.approx(0.5 * math.erfc(0.875 / math.sqrt(2)), abs=0.015)
    wide = parse_length_dist("normal:200,20").sample(N, random.Random(0)).values
    _within(wide, 200, 20)
    assert describe_lengths(wide)["cv"] == pytest.approx(0.1, rel=0.05)


def test_describe_lengths_gives_the_report_columns() -> None:
    d = describe_lengths([1, 2, 3, 4, 10])
    assert d == {
        "count": 5,
        "mean": 4.0,
        "p50": 3,
        "p90": pytest.approx(7.6),
        "min": 1,
        "max": 10,
        "cv": pytest.approx(math.sqrt(10.0) / 4.0),
    }
    assert describe_lengths([])["mean"] is None


@pytest.fixture(scope="module")
def tokenizer_dir() -> str:
    path = model_dir_path()
    if not (path / "tokenizer.json").is_file():
        pytest.skip("the SmolLM2 tokenizer is not built")
    return str(path)


def test_synthetic_prompts_draw_their_input_and_output_lengths(tokenizer_dir: str) -> None:
    spec = WorkloadSpec(
        kind="synthetic",
        num_prompts=40,
        seed=3,
        tokenizer=tokenizer_dir,
        input_len_dist="uniform:5,50",
        output_len_dist="exponential:16,64",
    )
    prompts = build_prompts(spec)
    again = build_prompts(spec)
    assert prompts == again
    tokenizer = load_tokenizer(tokenizer_dir)
    inputs = [p.prompt_tokens for p in prompts]
    assert [count_tokens(tokenizer, p.text or "") for p in prompts] == inputs
    assert len(set(inputs)) > 10 and all(5 <= n <= 50 for n in inputs if n is not None)
    outputs = [p.output_tokens or 0 for p in prompts]
    assert len(set(outputs)) > 5 and all(1 <= n <= 64 for n in outputs)
    described = describe_workload(spec, prompts)
    assert described["name"] == "synthetic uniform:5,50 in / exponential:16,64 out"
    assert described["prompt_lengths"]["output"]["mean"] == pytest.approx(sum(outputs) / 40)
    assert set(described["clamped"]) == {"input", "output"}
    # the output lengths do not depend on the input distribution: each side has its own seeded stream
    other = build_prompts(
        WorkloadSpec(
            kind="synthetic",
            num_prompts=40,
            seed=3,
            tokenizer=tokenizer_dir,
            input_len=8,
            output_len_dist="exponential:16,64",
        )
    )
    assert [p.output_tokens for p in other] == outputs


def test_max_output_len_caps_every_prompt(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a", "max_tokens": 100}\n{"prompt": "b", "max_tokens": 7}\n{"prompt": "c"}\n')
    prompts = build_prompts(WorkloadSpec(kind="jsonl", num_prompts=None, path=str(path), max_output_len=50))
    assert [p.output_tokens for p in prompts] == [50, 7, None]


@pytest.mark.parametrize("kind", ["sharegpt", "jsonl"])
def test_length_distributions_belong_to_the_synthetic_workload(kind: str) -> None:
    with pytest.raises(ValueError, match="applies to the synthetic workload only"):
        WorkloadSpec(kind=kind, tokenizer="x", path="x", output_len_dist="fixed:3")  # type: ignore[arg-type]


def test_the_cli_help_names_the_forms_the_parser_takes() -> None:
    from loadgen.settings.table import LENGTH_FORMS
    from loadgen.workloads.lengths import FORMS

    assert LENGTH_FORMS == FORMS
