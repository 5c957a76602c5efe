"""The compose services' command lines, run with the real CLIs outside a container.

Only what must change outside a container is changed: compose host names and container paths become
local ports and the repo's model directory. A renamed or removed option in `loadgen` or the locustfile
then fails here instead of on a GPU host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fixtures.procs import REPO_ROOT, free_port, run_server

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DEFAULT_NAME = "SmolLM2-135M-Instruct"


def local_command(service: str, model_dir: Path, replacements: dict[str, str]) -> list[str]:
    """The service's command with compose defaults filled in and container addresses made local."""
    out = []
    for arg in COMPOSE["services"][service]["command"]:
        arg = str(arg)
        # Compose's own defaults, as `${VAR:-default}` leaves them when .env does not set VAR.
        while "${" in arg:
            start = arg.index("${")
            end = arg.index("}", start)
            arg = arg[:start] + arg[start + 2 : end].split(":-", 1)[1] + arg[end + 1 :]
        arg = arg.replace(f"/models/{DEFAULT_NAME}", str(model_dir))
        for old, new in replacements.items():
            arg = arg.replace(old, new)
        out.append(arg)
    return out


def run_cli(command: list[str], model_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a `loadgen ...` command with this interpreter."""
    assert command[0] == "loadgen"
    env = {**os.environ, "SERVEBENCH_MODEL_DIR": str(model_dir)}
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *command[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO_ROOT,
    )


def test_compare_one_shot_arguments_are_accepted_by_loadgen_compare(smollm2_dir: Path) -> None:
    # Nothing listens on these ports: compare parses every option, then stops at its readiness check.
    ports = {
        "http://vllm:8000": f"http://127.0.0.1:{free_port()}",
        "http://hf-server:8001": f"http://127.0.0.1:{free_port()}",
    }
    result = run_cli(local_command("loadgen", smollm2_dir, ports), smollm2_dir)
    assert result.returncode == 2
    assert "vllm (http://127.0.0.1" in result.stderr and "is not ready" in result.stderr, result.stderr


def test_run_one_shot_arguments_drive_a_sweep_and_write_results(
    smollm2_dir: Path, sim_server_factory: Any, tmp_path: Path
) -> None:
    metrics_port = free_port()
    with sim_server_factory(model=DEFAULT_NAME) as sim:
        local = {"http://vllm:8000": sim.base_url, "9100": str(metrics_port), "0.0.0.0": "127.0.0.1"}
        command = local_command("loadgen-run", smollm2_dir, local)
        # A short sweep: one request per level, results in tmp_path instead of the mounted folder.
        command += ["--num-requests", "1", "--output-dir", str(tmp_path / "run")]
        result = run_cli(command, smollm2_dir)
    assert result.returncode == 0, result.stderr
    summaries = sorted((tmp_path / "run").rglob("*.json"))
    assert summaries, result.stdout
    assert "errors:" not in result.stdout, result.stdout


def test_locust_master_and_worker_commands_run_together(smollm2_dir: Path, tmp_path: Path) -> None:
    web_port, master_port = free_port(), free_port()
    locustfile = str(REPO_ROOT / "loadgen" / "locust" / "locustfile.py")
    local = {"/app/locustfile.py": locustfile, "8089": str(web_port), "0.0.0.0": "127.0.0.1"}
    master = local_command("locust-master", smollm2_dir, local)
    worker = local_command("locust-worker", smollm2_dir, local)
    master += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
    worker += ["--master-port", str(master_port)]
    worker = [w if w != "locust-master" else "127.0.0.1" for w in worker]
    env = {"SERVEBENCH_MODEL_DIR": str(smollm2_dir), "SERVEBENCH_MODEL": DEFAULT_NAME}
    python = [sys.executable, "-m"]
    with (
        run_server(
            [*python, *master],
            web_port,
            tmp_path / "master.log",
            health_path="/metrics",
            timeout_s=90,
            env=env,
        ) as master_proc,
        run_server(
            [*python, *worker],
            web_port,
            tmp_path / "worker.log",
            health_path="/metrics",
            timeout_s=90,
            env=env,
        ),
    ):
        assert wait_for_workers(master_proc.base_url) == 1, master_proc.log_tail()


def wait_for_workers(base_url: str, timeout_s: float = 30.0) -> int:
    """How many workers the locust master at `base_url` reports, once it reports any (or at timeout)."""
    deadline = time.monotonic() + timeout_s
    workers = 0
    while time.monotonic() < deadline:
        workers = len(httpx.get(f"{base_url}/stats/requests", timeout=5).json().get("workers", []))
        if workers:
            break
        time.sleep(0.5)
    return workers
