"""`benchmarks.greedy_noise`: greedy decoding against itself across batch shapes and precisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.greedy_noise import agreement, main


def test_agreement_counts_prefix_first_token_and_identical_outputs() -> None:
    reference = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 9]]
    other = [[1, 2, 0, 0], [5, 6, 7, 8], [8, 9]]
    assert agreement(reference, other) == {
        "mean_prefix_agreement": pytest.approx((0.5 + 1.0 + 0.0) / 3),
        "first_token_matches": 2,
        "exact_matches": 1,
        "prompts": 3,
    }


def test_smollm2_agrees_with_itself_on_the_first_tokens(
    smollm2_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--model-dir", str(smollm2_dir), "--device", "cpu", "--dtypes", "float32", "--max-tokens", "4"])
    out = capsys.readouterr().out
    assert "float32 batched vs float32 alone" in out
    written = Path(out.strip().splitlines()[-1].removeprefix("wrote "))
    result = json.loads(written.read_text())
    (row,) = result["rows"]
    # Left padding and batch shape change rounding, not the model: real weights keep the first token.
    assert row["first_token_matches"] >= 6 and row["prompts"] == 8
    assert all(len(ids) == 4 for ids in result["runs"][0]["batched"])
    assert result["reference_margin"]["steps"] == 8 * 4
