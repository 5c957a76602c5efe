"""`REHEARSE=cpu benchmarks/gpu_host.sh`: the GPU steps run here, on the CPU, with tiny shapes.

A step's first real run used to be on the device, where a script bug costs a session's minutes (the
stop_server bug of session 6 was found by hand). These tests run a seeds step end to end on the CPU:
its servers' starts and stops, the compare runs, the tarballs and the claims rows are the GPU call's.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.fixtures.procs import REPO_ROOT, free_port
from tests.test_gpu_plan import dry_run, run_script, script

VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python3"


@pytest.mark.parametrize("kind", ["claims", "seeds"])
def test_a_rehearsal_puts_every_step_on_the_cpu_with_the_tiny_shape(kind: str, tmp_path: Path) -> None:
    steps: list[str] = []
    if kind == "claims":  # the default steps and those outside the default list
        default = "prepare-7b n1-7b n3-7b prepare-13b n1-13b n3-13b sweep-7b capacity-7b variance-7b"
        steps = [*default.split(), "queue-7b", "noise-7b", "noise-13b"]
    commands = dry_run(kind, str(tmp_path / "out"), *steps, REHEARSE="cpu", HOST_MODELS="/m")
    assert commands
    for argv in commands:
        assert "--gpu-memory-gib" not in argv, argv
        assert "cuda" not in argv, argv
        if "--device" in argv:
            assert argv[argv.index("--device") + 1] == "cpu", argv
    copies = {argv[3]: argv[2] for argv in commands if argv[:2] == ["cp", "-r"]}
    assert copies
    for target, source in copies.items():
        tiny = "tiny-qwen2-test" if target.startswith("/m/qwen") else "tiny-test"
        assert source.endswith(f"/{tiny}-shape"), (target, source)
    weights = [argv for argv in commands if "init-weights" in argv]
    assert weights and all(argv[argv.index("init-weights") + 1].startswith("/m/") for argv in weights)


def test_without_a_rehearsal_the_gpu_steps_keep_cuda_and_their_budgets(tmp_path: Path) -> None:
    commands = dry_run("seeds", str(tmp_path))
    servers = [a for a in commands if a[:3] == ["python3", "-m", "servers.vllm"]]
    assert servers and all(a[a.index("--device") + 1] == "cuda" for a in servers)
    assert all(a[a.index("--gpu-memory-gib") + 1] == "20" for a in servers)  # write-up 1's L4
    assert not any("tiny-test" in " ".join(a) for a in commands)


def test_only_the_cpu_rehearsal_is_known(tmp_path: Path) -> None:
    done = script("seeds", str(tmp_path), REHEARSE="gpu")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gpu_host.sh: REHEARSE=gpu: the one rehearsal is REHEARSE=cpu"
    ]


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="the rehearsal runs on .venv (make install)")
def test_seeds_batches_3b_runs_end_to_end_on_the_cpu(tmp_path: Path) -> None:
    """Write-up 1's step as the device would run it: both servers started by the script, three
    compare runs of offline batches 4-32, every claims row measured, the servers stopped."""
    out, results = tmp_path / "out", tmp_path / "results"
    vllm_port, hf_port = free_port(), free_port()
    env = {
        "REHEARSE": "cpu",
        "HOST_MODELS": str(tmp_path / "models"),
        "GPU_CACHE": str(tmp_path / "gpu"),
        "RESULTS": str(results),
        "VLLM_PORT": str(vllm_port),
        "HF_PORT": str(hf_port),
    }
    done = run_script(["seeds", str(out), "batches-3b"], env, dry=False, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no nvidia-smi here" in (out / "host.txt").read_text()
    # 12 files, as on a GPU: more than a device call brings back (8), so all but two are packed.
    assert sorted(p.name for p in out.iterdir()) == ["call.tar.gz", "claims.json", "host.txt"]
    with tarfile.open(out / "call.tar.gz") as call:
        call.extractall(tmp_path / "call", filter="data")
    unpacked = tmp_path / "call"
    assert (unpacked / "seeds-3b-vllm.log").is_file() and (unpacked / "seeds-3b-o64.txt").is_file()
    for length in (64, 256, 512):
        with tarfile.open(unpacked / f"seeds-3b-o{length}.tar.gz") as tar:
            names = tar.getnames()
        assert any(name.endswith(f"seeds-3b-o{length}/run.json") for name in names), names
        assert (results / f"seeds-3b-o{length}" / "offline.json").is_file()
    rows = {row["id"]: row for row in json.loads((out / "claims.json").read_text())}
    expected = {f"l32-3b-ratio-b{b}-o{o}" for b in (4, 8, 16, 32) for o in (64, 256, 512)}
    expected |= {f"l32-3b-{server}-b{b}" for server in ("vllm", "hf") for b in (4, 8, 16, 32)}
    assert set(rows) == expected
    assert all(rows[i]["measured"] > 0 for i in expected), {i: rows[i]["measured"] for i in expected}
    marker = "REHEARSAL: the CPU and a two-layer tiny shape, not a result"
    assert all(marker in rows[i]["notes"] for i in expected)
    for port in (vllm_port, hf_port):
        probe = subprocess.run(
            ["curl", "-sf", "--max-time", "2", f"http://127.0.0.1:{port}/health"], capture_output=True
        )
        assert probe.returncode != 0, f"a server still answers on {port} after the step"
