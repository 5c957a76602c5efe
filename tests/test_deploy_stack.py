"""`docker compose up`, for real: the `cpu` profile's images built here and the stack started.

What a laptop user runs (`COMPOSE_PROFILES=cpu docker compose up`), with only what this machine
needs changed, in a test override: the images build FROM a local Debian base (no registry) with the
machine's pip settings, every service runs on the host's network (dockerd runs with --bridge=none;
compose names map to 127.0.0.1, ports are moved to free ones) and Grafana, whose image cannot be
pulled, is left out. Then: every health check passes, Prometheus scrapes vLLM, the HF server, locust
and the load generator, every dashboard query returns data under load, the compose comparison
(`loadgen-cpu`) writes its report, and a second comparison whose HF server is killed half-way records
the failures and still writes its report. `docker compose down -v` removes containers, volumes and
the network at the end; the images stay cached for the next run on this machine, and the ones a
rebuild replaced (untagged, labelled as this test's) are removed, or every run would leave its
predecessors' layers on the disk (67 GB of them had piled up on the development machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from loadgen.exit_status import EXIT_ERRORS_ABOVE_LIMIT
from tests.fixtures.docker import (
    Compose,
    DockerEngine,
    Reset,
    docker_cli,
    dump_override,
    host_network_override,
    write_env,
)
from tests.fixtures.procs import REPO_ROOT, free_port
from tests.fixtures.prometheus import (
    MIN_REQUESTS,
    PrometheusClient,
    Scraped,
    dashboard_queries,
    has_data,
    local_scrape_config,
    query_problem,
    scraped_since,
    wait_until_ready,
)
from tests.test_deploy_commands import wait_for_workers

# the first test builds every image (cold: ~20 min on 2 cores) in its fixture set-up
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]

PROJECT = "servebench-stacktest"
IMAGE_LABEL = "org.servebench.test-stack"
"""Set to PROJECT on every image this test builds: what `prune_replaced_images` removes by."""
SESSION_PROJECT = f"{PROJECT}-{os.getpid()}"
"""This test session's compose project. Two sessions on one Docker daemon (a developer's run beside
CI's) must not see each other's containers: one session's comparison once failed the other's start."""
MODEL = "SmolLM2-135M-Instruct"
STACK = ("model-init-cpu", "vllm-cpu", "hf-server-cpu", "prometheus", "locust-master", "locust-worker")
"""What `up` starts before the comparison: the cpu profile less its one-shot comparison and Grafana."""
PROFILES = ("--profile", "cpu", "--profile", "run")
"""The cpu profile and the `run` one-shot (live metrics for the dashboards)."""
HEALTHCHECKED = ("vllm-cpu", "hf-server-cpu", "prometheus", "locust-master")
HOSTS = ("vllm", "hf-server", "locust-master", "loadgen-run", "prometheus")
"""Compose names the services reach each other by; on the host's network each is 127.0.0.1."""
VLLM_IMAGE = "servebench/vllm-cpu:0.32.0"
BUILD_TIMEOUT_S = 3600.0
HEALTHY_TIMEOUT_S = 900.0
LOAD_TIMEOUT_S = 600.0
COMPARE_TIMEOUT_S = 1200.0
VALUES = {"model": MODEL, "server": "vllm|hf", "target": "vllm|hf"}
TEST_ENV = {
    "COMPOSE_PROFILES": "cpu",
    "GRAFANA_ADMIN_PASSWORD": "unused-grafana-is-not-started",
    "LOADGEN_CONCURRENCY": "1,2",
    "LOADGEN_INPUT_LEN": "16",
    "LOADGEN_OUTPUT_LEN": "8",
    "LOADGEN_TARGET_URL": "http://vllm:8000",
    "LOADGEN_TARGET_NAME": "vllm",
    "HOST_UID": str(os.getuid()),
    "HOST_GID": str(os.getgid()),
}


@dataclass
class Stack:
    """The running stack: its compose project, the host ports the services moved to, and folders."""

    compose: Compose
    ports: dict[int, int]
    results: Path

    @property
    def prometheus(self) -> PrometheusClient:
        return PrometheusClient(f"http://127.0.0.1:{self.ports[9090]}")

    def url(self, container_port: int) -> str:
        """Where a service's container port answers on this host."""
        return f"http://127.0.0.1:{self.ports[container_port]}"

    def containers(self) -> dict[str, dict[str, Any]]:
        """The project's containers by service (the newest when a one-shot ran more than once)."""
        by_age = sorted(self.compose.containers(), key=lambda c: str(c.get("CreatedAt", "")))
        return {c["Service"]: c for c in by_age}

    def logs(self, *services: str, tail: int = 40) -> str:
        result = self.compose.run(
            "logs", "--no-color", "--tail", str(tail), *services, check=False, timeout=60
        )
        return result.stdout[-6000:] + result.stderr[-2000:]


def repo_script(name: str, *args: str, timeout: float = 600) -> str:
    """Run scripts/`name`; its stdout (the base image's tag, for docker-base-image.sh)."""
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, f"scripts/{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def build_override(base_image: str) -> dict[str, Any]:
    """The images built FROM the local base with the host's network (for pip and apt), the classic
    builder (no BuildKit here, so no named build contexts: the HF server names its base itself), and
    Grafana left out (its image cannot be pulled here)."""
    labels = {IMAGE_LABEL: PROJECT}
    local = {"network": "host", "args": {"BASE_IMAGE": base_image}, "labels": labels}
    vllm_args: dict[str, str] = {"BASE_IMAGE": base_image}
    if (REPO_ROOT / "docker" / "pip" / "wheels").is_dir():
        vllm_args["TORCH_INDEX_URL"] = ""  # the machine's own CPU torch wheel, copied into docker/pip
    on_vllm = {
        "network": "host",
        "args": {"BASE_IMAGE": VLLM_IMAGE},
        "additional_contexts": Reset({}),
        "labels": labels,
    }
    services: dict[str, Any] = {
        "vllm-cpu": {"build": {"network": "host", "args": vllm_args, "labels": labels}},
        "hf-server-cpu": {"build": on_vllm},
        "prometheus": {"build": local},
    }
    for name in ("locust-master", "locust-worker", "loadgen-cpu", "loadgen-run"):
        services[name] = {"build": local}
    return {"services": {**services, "grafana": Reset(None)}}


def wait_healthy(stack: Stack) -> None:
    """Until model-init has finished and every health-checked service is healthy; fail on any exit."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    while time.monotonic() < deadline:
        containers = stack.containers()
        for name, c in containers.items():
            if c["State"] in ("exited", "dead") and not (name == "model-init-cpu" and c["ExitCode"] == 0):
                pytest.fail(f"{name} stopped ({c['Status']}):\n{stack.logs(name)}")
        done = containers.get("model-init-cpu", {}).get("State") == "exited"
        healthy = all(containers.get(n, {}).get("Health") == "healthy" for n in HEALTHCHECKED)
        if done and healthy and containers.get("locust-worker", {}).get("State") == "running":
            return
        time.sleep(3)
    states = {n: (c["State"], c.get("Health")) for n, c in stack.containers().items()}
    pytest.fail(f"not healthy after {HEALTHY_TIMEOUT_S:.0f} s: {states}\n{stack.logs()}")


@pytest.fixture(scope="module")
def stack(docker_engine: DockerEngine) -> Iterator[Stack]:
    """Build the cpu profile's images and start the stack on the host's network; down -v at the end."""
    # Files the containers read (Prometheus runs as nobody) must be readable: not under pytest's 0700 tmp.
    folder = Path(tempfile.mkdtemp(prefix="servebench-stack-"))
    try:
        yield from build_and_start(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_and_start(folder: Path) -> Iterator[Stack]:
    """The `stack` fixture's work, in `folder` (removed by the caller)."""
    folder.chmod(0o755)
    results = folder / "results"
    results.mkdir()
    ports = {port: free_port() for port in (8000, 8001, 8089, 9090, 9100, 5557)}
    env_file = write_env(folder / "stack.env", {**TEST_ENV, "RESULTS_DIR": str(results)})
    repo_script("docker-pip-context.py")
    try:
        base = repo_script("docker-base-image.sh")
        build = dump_override(build_override(base), folder / "build.override.yml")
        classic = {"DOCKER_BUILDKIT": "0"}  # the classic builder: no buildx plugin here
        compose = Compose(env_file, SESSION_PROJECT, [build], extra_env=classic)
        # The HF server image is built on the vLLM image: build that first (BuildKit would order them).
        compose.run("build", "vllm-cpu", timeout=BUILD_TIMEOUT_S)
        compose.run(*PROFILES, "build", timeout=BUILD_TIMEOUT_S)
        prune_replaced_images()
    finally:
        repo_script("docker-pip-context.py", "--clean")
    stack = Stack(start_on_host_network(compose, ports, folder), ports, results)
    try:
        stack.compose.run("up", "--detach", "--no-build", "--pull", "never", *STACK, timeout=300)
        wait_healthy(stack)
        yield stack
    finally:
        stack.compose.run(
            *PROFILES, "down", "--volumes", "--remove-orphans", "--timeout", "20", check=False, timeout=300
        )
        leftover = stack.compose.containers()
        assert not leftover, f"down left containers behind: {leftover}"


def prune_replaced_images() -> None:
    """Remove the images of this test's earlier builds that a rebuild has replaced: untagged and
    labelled as this test's. The current images keep their tags, and so the build cache."""
    result = subprocess.run(
        [docker_cli(), "image", "prune", "--force", "--filter", f"label={IMAGE_LABEL}={PROJECT}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"docker image prune failed:\n{result.stderr[-2000:]}"


def start_on_host_network(compose: Compose, ports: dict[int, int], folder: Path) -> Compose:
    """`compose` plus an override putting every service on the host's network at `ports`."""
    resolved = compose.config("cpu", "run")["services"]
    override = host_network_override(resolved, ports, HOSTS)
    scrape = local_scrape_config(
        {
            "vllm": f"vllm:{ports[8000]}",
            "hf-server": f"hf-server:{ports[8001]}",
            "locust": f"locust-master:{ports[8089]}",
            "loadgen": f"loadgen-run:{ports[9100]}",
        }
    )
    scrape_file = folder / "prometheus.yml"
    scrape_file.write_text(yaml.safe_dump(scrape, sort_keys=False))
    override["prometheus"]["command"].append(f"--web.listen-address=127.0.0.1:{ports[9090]}")
    override["prometheus"]["volumes"] = [f"{scrape_file}:/etc/prometheus/prometheus.yml:ro"]
    # A short workload (the web UI's custom fields apply to new users, the workload is built at start).
    workload = ["--target-name", "hf", "--input-len", "16", "--max-tokens", "8", "--num-prompts", "64"]
    master = ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(ports[5557])]
    override["locust-master"]["command"] += master + workload
    override["locust-worker"]["command"] += ["--master-port", str(ports[5557])] + workload
    # The load for the dashboards runs until the test stops it, like tests/test_dashboards_live.py's.
    override["loadgen-run"]["command"] += ["--duration", f"{LOAD_TIMEOUT_S:.0f}", "--num-prompts", "64"]
    network = dump_override({"services": override}, folder / "host-network.override.yml")
    return Compose(
        compose.env_file, compose.project, [*compose.overrides, network], extra_env=compose.extra_env
    )


@dataclass(frozen=True)
class Loaded:
    """What Prometheus held under load: the panel check's moment and every scrape target's health then."""

    scraped: Scraped
    targets: list[dict[str, Any]]


@pytest.fixture(scope="module")
def loaded(stack: Stack) -> Iterator[Loaded]:
    """A locust swarm driving the HF server, then loadgen-run (live metrics) driving vLLM, until
    Prometheus holds what every panel needs; then the load is stopped. The HF server gets a head start
    alone: on two cores a busy vLLM next to it slows its decode steps to seconds."""
    locust = stack.url(8089)
    assert wait_for_workers(locust, timeout_s=60) >= 1
    swarm = {
        "user_count": "2",
        "spawn_rate": "2",
        "host": f"http://hf-server:{stack.ports[8001]}",
        "target_name": "hf",
        "max_tokens": "8",
    }
    assert httpx.post(f"{locust}/swarm", data=swarm, timeout=30).status_code == 200
    started = time.time()
    loadgen_container = ""

    def check_alive() -> None:
        for name, c in stack.containers().items():
            if name != "model-init-cpu" and c["State"] != "running":
                pytest.fail(f"{name} is {c['State']} during the load:\n{stack.logs(name)}")

    try:
        hf_done = f'locust_requests_total{{outcome="success"}} >= {MIN_REQUESTS}'
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while not has_data(stack.prometheus, hf_done):
            assert time.monotonic() < deadline, f"locust finished no requests:\n{stack.logs()}"
            check_alive()
            time.sleep(2)
        run = stack.compose.run(*PROFILES, "run", "--detach", "--no-deps", "loadgen-run", timeout=120)
        loadgen_container = run.stdout.strip().splitlines()[-1]
        at = wait_until_ready(stack.prometheus, LOAD_TIMEOUT_S, check_alive, stack.logs)
        targets = stack.prometheus.targets()
    finally:
        httpx.get(f"{locust}/stop", timeout=30)
        if loadgen_container:
            subprocess.run(["docker", "rm", "--force", loadgen_container], capture_output=True, timeout=60)
    yield Loaded(scraped_since(stack.prometheus, started, at, VALUES), targets)


def test_every_service_is_up_and_healthy(stack: Stack) -> None:
    containers = stack.containers()
    assert set(containers) == set(STACK)
    assert containers["model-init-cpu"]["ExitCode"] == 0
    for name in HEALTHCHECKED:
        assert containers[name]["Health"] == "healthy", name
    assert "/models/SmolLM2-135M-Instruct is ready" in stack.logs("model-init-cpu")
    models = httpx.get(f"{stack.url(8000)}/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [MODEL]


def test_prometheus_scrapes_every_target(loaded: Loaded) -> None:
    health = {t["labels"]["job"]: t["health"] for t in loaded.targets}
    assert health == {"vllm": "up", "hf-server": "up", "locust": "up", "loadgen": "up"}, loaded.targets


def test_every_dashboard_query_returns_data(loaded: Loaded) -> None:
    queries = dashboard_queries()
    problems = [
        f"{q.dashboard} {q.where}: {p}"
        for q in queries
        if (p := query_problem(loaded.scraped, q)) is not None
    ]
    assert len(queries) > 50
    assert not problems, "\n".join(problems)


def run_comparison(stack: Stack) -> tuple[dict[str, Any], Path]:
    """Start the compose comparison (`loadgen-cpu`); its container and its new results folder."""
    before = set(stack.results.iterdir())
    stack.compose.run("up", "--detach", "--no-build", "--pull", "never", "loadgen-cpu", timeout=120)
    deadline = time.monotonic() + 120
    while not (new := set(stack.results.iterdir()) - before):
        assert time.monotonic() < deadline, f"no results folder:\n{stack.logs('loadgen-cpu')}"
        time.sleep(1)
    return stack.containers()["loadgen-cpu"], new.pop()


def wait_exited(stack: Stack, service: str) -> dict[str, Any]:
    """The one-shot's container once it has exited."""
    deadline = time.monotonic() + COMPARE_TIMEOUT_S
    while (c := stack.containers()[service])["State"] != "exited":
        assert time.monotonic() < deadline, f"{service} still {c['State']}:\n{stack.logs(service)}"
        time.sleep(3)
    return c


def summaries(run_dir: Path, target: str) -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted(run_dir.glob(f"summary-*-{target}-*.json"))]


def test_compose_comparison_writes_its_report(stack: Stack, loaded: Loaded) -> None:
    _, run_dir = run_comparison(stack)
    container = wait_exited(stack, "loadgen-cpu")
    logs = stack.logs("loadgen-cpu", tail=80)
    assert container["ExitCode"] == 0, logs
    assert "vllm/hf" in logs  # the summary table's speed-up column
    for target in ("vllm", "hf"):
        levels = summaries(run_dir, target)
        assert [s["label"] for s in levels] == [f"{target} concurrency=1", f"{target} concurrency=2"]
        assert all(s["completed"] > 0 and s["failed"] == 0 for s in levels), levels
    assert orjson.loads((run_dir / "parity.json").read_bytes())["passed"]
    assert "Speed-up of vllm over hf" in (run_dir / "report.md").read_text()
    assert (run_dir / "report.html").stat().st_size > 0


def test_comparison_records_a_dead_hf_server_and_still_reports(stack: Stack, loaded: Loaded) -> None:
    # Runs last: it kills the HF server's container once its first level is done.
    _, run_dir = run_comparison(stack)
    deadline = time.monotonic() + COMPARE_TIMEOUT_S
    while not summaries(run_dir, "hf"):
        assert time.monotonic() < deadline, stack.logs("loadgen-cpu")
        time.sleep(1)
    stack.compose.run("kill", "hf-server-cpu", timeout=60)
    container = wait_exited(stack, "loadgen-cpu")
    logs = stack.logs("loadgen-cpu", tail=80)
    assert "Traceback" not in logs, logs
    # the HF server's later levels failed: above --max-error-rate (0), so exit 4 (loadgen.exit_status)
    assert container["ExitCode"] == EXIT_ERRORS_ABOVE_LIMIT, logs
    after = summaries(run_dir, "hf")[1:]
    assert after and all(s["failed"] > 0 for s in after), after
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file(), logs
    assert all(s["failed"] == 0 for s in summaries(run_dir, "vllm")), "vLLM was not touched"


# ---- Bad input: compose refuses before it starts anything --------------------------------------------


@pytest.fixture
def bare_compose(docker_engine: DockerEngine, tmp_path: Path) -> Compose:
    """Compose on the repo's file with a given .env, as a project that must never hold containers."""
    return Compose(
        write_env(tmp_path / "test.env", {"GRAFANA_ADMIN_PASSWORD": "x"}),
        f"{SESSION_PROJECT}-bad",
        project_dir=tmp_path,
    )


def test_a_misspelled_profile_starts_nothing(bare_compose: Compose) -> None:
    result = bare_compose.run(
        "--profile", "cpuu", "up", "--detach", "--no-build", "--pull", "never", check=False
    )
    assert result.returncode != 0
    assert "no service selected" in result.stderr
    assert bare_compose.containers() == []


def test_without_an_env_file_compose_names_the_missing_setting(bare_compose: Compose, tmp_path: Path) -> None:
    # No .env in the project folder: `docker compose up` in a fresh clone before `cp .env.example .env`.
    missing = Compose(None, bare_compose.project, project_dir=tmp_path)
    result = missing.run("up", "--detach", "--no-build", "--pull", "never", check=False)
    assert result.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD in .env (see .env.example)" in result.stderr
    assert bare_compose.containers() == []


def test_the_built_images_carry_the_label_and_no_replaced_one_is_left(stack: Stack) -> None:
    """Every image the test builds is labelled as its own, so a rebuild's predecessors are found and
    removed: none untagged with the label remains after the build."""
    services = stack.compose.config("cpu", "run")["services"].values()
    images = {service.get("image", "") for service in services}
    built = sorted(image for image in images if image.startswith("servebench/"))
    assert VLLM_IMAGE in built and len(built) >= 4, built
    for image in built:
        labels = subprocess.run(
            [docker_cli(), "image", "inspect", "--format", "{{json .Config.Labels}}", image],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert orjson.loads(labels).get(IMAGE_LABEL) == PROJECT, (image, labels)
    replaced = subprocess.run(
        [docker_cli(), "images", "--quiet", "--filter", "dangling=true", "--filter", f"label={IMAGE_LABEL}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert not replaced, f"images replaced by a rebuild were left behind: {replaced}"
