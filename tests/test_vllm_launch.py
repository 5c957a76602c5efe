"""The launch configuration: both servers get the same model, context, dtype and weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from servers.vllm.launch import HfLaunch, ServeSettings, VllmLaunch
from tests.fixtures.procs import REPO_ROOT


def option(argv: list[str], name: str) -> str:
    """The value following `name` in `argv`."""
    return argv[argv.index(name) + 1]


def test_both_servers_get_the_same_model_context_dtype_and_name(tmp_path: Path) -> None:
    settings = ServeSettings(tmp_path, served_model_name="m", max_model_len=4096, dtype="float16")
    vllm, hf = VllmLaunch(settings, port=9000).argv(vllm="vllm"), HfLaunch(settings, port=9001).argv()
    assert vllm[:3] == ["vllm", "serve", str(tmp_path)] and option(hf, "--model-dir") == str(tmp_path)
    for name, value in (
        ("--served-model-name", "m"),
        ("--max-model-len", "4096"),
        ("--dtype", "float16"),
        ("--host", "127.0.0.1"),
    ):
        assert option(vllm, name) == value and option(hf, name) == value
    assert option(vllm, "--port") == "9000" and option(hf, "--port") == "9001"
    assert "--load-format" not in vllm and "--random-weights" not in hf


def test_random_weights_map_to_load_format_dummy(tmp_path: Path) -> None:
    settings = ServeSettings(tmp_path, random_weights=True)
    assert option(VllmLaunch(settings).argv(vllm="vllm"), "--load-format") == "dummy"
    assert "--random-weights" in HfLaunch(settings).argv()


def test_cpu_launch_is_eager_with_a_sized_kv_cache_and_loopback_env(tmp_path: Path) -> None:
    launch = VllmLaunch(ServeSettings(tmp_path), kv_cache_gib=2, cache_dir=tmp_path / "cache")
    env = launch.env()
    assert "--enforce-eager" in launch.argv(vllm="vllm")
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2" and env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["VLLM_HOST_IP"] == "127.0.0.1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_CACHE_ROOT"] == str(tmp_path / "cache")
    assert env["TORCHINDUCTOR_CACHE_DIR"].startswith(str(tmp_path / "cache"))


def test_gpu_launch_compiles_and_takes_no_cpu_settings(tmp_path: Path) -> None:
    launch = VllmLaunch(ServeSettings(tmp_path, device="cuda"), gpu_memory_utilization=0.45)
    argv = launch.argv(vllm="vllm")
    assert "--enforce-eager" not in argv and option(argv, "--gpu-memory-utilization") == "0.45"
    assert "VLLM_CPU_KVCACHE_SPACE" not in launch.env()


def test_vllm_server_prints_its_command_line(smollm2_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servers.vllm", "--model-dir", str(smollm2_dir), "--port", "8123", "--print"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "VLLM_CPU_KVCACHE_SPACE=1" in lines
    assert " serve " in lines[-1] and "--port 8123" in lines[-1] and str(smollm2_dir) in lines[-1]


def test_vllm_server_refuses_a_directory_without_a_model(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servers.vllm", "--model-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "hf-server prepare-model" in done.stderr and "Traceback" not in done.stderr
