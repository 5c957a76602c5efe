"""docker/prometheus/prometheus.yml: valid for promtool, and every job scrapes a compose service on the
port that service really listens on, with the labels the dashboards select on."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.fixtures.procs import REPO_ROOT
from tests.fixtures.prometheus import SCRAPE_CONFIG, local_scrape_config

CONFIG = yaml.safe_load(SCRAPE_CONFIG.read_text())
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
JOBS = {job["job_name"]: job for job in CONFIG["scrape_configs"]}


def flag_value(command: list[str], flag: str) -> str:
    """The value after `flag` in a compose command list."""
    return str(command[command.index(flag) + 1])


def listening_port(service: str) -> int:
    """The port a compose service's process listens on, read from its command line."""
    command = COMPOSE["services"][service]["command"]
    for flag in ("--port", "--web-port", "--metrics-port"):
        if flag in command:
            return int(flag_value(command, flag))
    raise AssertionError(f"{service}: no listening port in its command")


def test_scrape_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make system` (Debian's prometheus package)")
    result = subprocess.run(
        [promtool, "check", "config", str(SCRAPE_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_both_servers_locust_and_the_load_generator() -> None:
    assert set(JOBS) == {"vllm", "hf-server", "locust", "loadgen"}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_each_job_scrapes_a_compose_service_on_its_listening_port(job: str) -> None:
    (static,) = JOBS[job]["static_configs"]
    (target,) = static["targets"]
    host, port = target.split(":")
    assert host in COMPOSE["services"], f"{job}: no compose service {host}"
    assert int(port) == listening_port(host)


def test_server_jobs_label_series_with_the_server_name_the_dashboards_use() -> None:
    labels: dict[str, Any] = {job: JOBS[job]["static_configs"][0].get("labels", {}) for job in JOBS}
    assert labels["vllm"] == {"server": "vllm"}
    assert labels["hf-server"] == {"server": "hf"}
    dashboards = (REPO_ROOT / "dashboards" / "servebench-comparison.json").read_text()
    assert 'server=\\"vllm\\"' in dashboards and 'server=\\"hf\\"' in dashboards


def test_local_config_rewrites_every_job_and_refuses_a_missing_one() -> None:
    targets = {job: f"127.0.0.1:{9000 + i}" for i, job in enumerate(sorted(JOBS))}
    local = local_scrape_config(targets)
    assert {j["job_name"]: j["static_configs"][0]["targets"] for j in local["scrape_configs"]} == {
        job: [t] for job, t in targets.items()
    }
    assert (
        local["scrape_configs"][0]["static_configs"][0]["labels"]
        == JOBS[local["scrape_configs"][0]["job_name"]]["static_configs"][0]["labels"]
    )
    with pytest.raises(ValueError, match="exactly the jobs"):
        local_scrape_config({"vllm": "127.0.0.1:1"})
