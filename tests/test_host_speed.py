"""`benchmarks.host_speed`: the host figures `gpu_host.sh` keeps in every call's `host.txt`."""

from __future__ import annotations

import pytest

from benchmarks import host_speed


def test_the_host_figures_are_measured_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    found = host_speed.measure(rounds=1)
    assert 0 < found["python_ns_per_iter"] < 10_000
    launch = found["cuda_launch_us"]
    assert launch is None or 0 < launch < 10_000  # None on a machine without a CUDA device
    assert found["cores"] and found["load_avg_1m"] >= 0
    assert host_speed.main(["--rounds", "1", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "python ns/iter" in out and "CUDA launch µs" in out


def test_rounds_below_one_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        host_speed.main(["--rounds", "0"])
    assert exit_info.value.code == 2
    assert "--rounds must be at least 1" in capsys.readouterr().err
