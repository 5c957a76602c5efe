"""`benchmarks.claims_index`: every committed claims row on one page, and the committed page current."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import claims as c
from benchmarks import claims_index as ci
from benchmarks.claims_catalog import CATALOG

REPO = Path(__file__).resolve().parents[1]


def _row(claim_id: str, measured: float | None, **fields: object) -> c.ClaimRow:
    claim = CATALOG[claim_id]
    return c.ClaimRow(
        issue=claim.issue, id=claim.id, claim=claim.claim, source=claim.source, setting=claim.setting,
        claimed_low=claim.claimed_low, claimed_high=claim.claimed_high, measured=measured, unit=claim.unit,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_committed_page_is_what_the_committed_results_give() -> None:
    page = REPO / "docs" / "claims.md"
    assert ci.main([str(REPO / "docs" / "results"), "--check", str(page)]) == 0, (
        "docs/claims.md is stale: python -m benchmarks.claims_index docs/results --output docs/claims.md"
    )
    text = page.read_text()
    # every committed row has its line, linked to its results README
    for directory, row in ci.committed_rows(REPO / "docs" / "results"):
        assert f"| `{row.id}` |" in text
        assert f"(results/{directory}/README.md)" in text
        assert (REPO / "docs" / "results" / directory / "README.md").is_file()


def test_rows_group_by_issue_in_catalogue_order_with_every_measurement_and_the_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "docs" / "results"
    (results / "2026-01-02-later").mkdir(parents=True)
    (results / "2026-01-01-first").mkdir()
    c.write_rows(results / "2026-01-02-later" / "claims.json", [
        _row("vllm-hf-n1-7b", 27.7, ci95=(19.1, 36.3)),
        _row("qwen-vllm-max-concurrency", 256, bound="lower"),
    ])  # fmt: skip
    c.write_rows(results / "2026-01-01-first" / "claims.json", [_row("vllm-hf-n1-7b", 19.4)])
    page = ci.index(results, tmp_path / "docs")
    lines = page.splitlines()
    first = lines.index(next(line for line in lines if "| 19.4 |" in line))
    later = lines.index(next(line for line in lines if "| 27.7 (19.1–36.3) |" in line))
    assert first < later  # one claim's measurements, oldest first
    assert "[2026-01-01-first](results/2026-01-01-first/README.md)" in lines[first]
    assert lines.index("## Issue 11") < first < lines.index("## Issue 12")
    assert "| ≥ 256 | requests |" in page
    # a catalogued claim with no row is listed, not dropped
    assert "| `vllm-hf-n3-13b` |" in page and "not measured yet" in page
    assert page.count("not measured yet") == len(CATALOG) - 2
    out = tmp_path / "docs" / "claims.md"
    assert ci.main([str(results), "--output", str(out)]) == 0
    assert out.read_text() == page
    c.write_rows(results / "2026-01-01-first" / "claims.json", [_row("vllm-hf-n1-7b", 20.0)])
    assert ci.main([str(results), "--check", str(out)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert ci.main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"claims_index: {tmp_path / 'nowhere'} is not a directory"
