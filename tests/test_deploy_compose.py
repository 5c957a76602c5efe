"""docker-compose.yml, validated by Compose v2's `docker compose config` (no Docker engine needed).

Checks what a GPU host would otherwise find out the hard way: every profile is valid and closed under
`depends_on`, the server command lines are exactly servers/vllm/launch.py's (GPU and cpu profiles),
GPUs are reserved, ports stay on 127.0.0.1 unless the user opts out, and a missing Grafana password or
a misspelled profile stops compose with a clear message. tests/test_deploy_stack.py runs the cpu
profile for real.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from servers.vllm.launch import HfLaunch, ServeSettings, VllmLaunch
from tests.fixtures.docker import Compose, write_env
from tests.fixtures.procs import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
VALID_PROFILE_SETS = (
    ("two-gpu",),
    ("one-gpu-vllm",),
    ("one-gpu-hf",),
    ("two-gpu", "compare"),
    ("run",),
    ("one-gpu-vllm", "run"),
    ("one-gpu-hf", "run"),
    ("two-gpu", "compare", "run"),
    ("cpu",),
    ("cpu", "run"),
)
"""The profile sets a user can give COMPOSE_PROFILES: a server profile, plus the one-shots' profiles."""
# Values that differ from the defaults, so a test sees them flow from .env into the commands.
TEST_ENV = {
    "GRAFANA_ADMIN_PASSWORD": "not-a-real-password",
    "SERVED_MODEL_NAME": "Llama-3.2-1B-Instruct",
    "MAX_MODEL_LEN": "4096",
    "DTYPE": "float16",
    "SEED": "7",
    "VLLM_GPU_ID": "2",
    "HF_GPU_ID": "3",
    "VLLM_GPU_MEMORY_UTILIZATION": "0.45",
    "VLLM_MAX_NUM_SEQS": "128",
    "HF_MAX_BATCH_SIZE": "16",
    "HF_MAX_WAIT_MS": "5",
    "HF_BURST_GAP_MS": "3",
}


def compose(env_file: Path, *args: str, profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run `docker compose` (v2) on the repo's compose file with `env_file` and no inherited compose env."""
    profile_args = [a for p in profiles for a in ("--profile", p)]
    return Compose(env_file, "servebench-config").run(*profile_args, *args, check=False, timeout=60)


@pytest.fixture(scope="module")
def test_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A filled-in .env with non-default values."""
    return write_env(tmp_path_factory.mktemp("compose") / "test.env", TEST_ENV)


@pytest.fixture(scope="module")
def config(test_env_file: Path) -> dict[str, Any]:
    """The compose file as `docker compose config` resolves it with the test .env, every profile on."""
    result = compose(test_env_file, "config", profiles=("*",))
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def services_for(config: dict[str, Any], profiles: tuple[str, ...]) -> set[str]:
    """The services Compose starts for `profiles`: those without profiles plus those in one of them."""
    return {
        name
        for name, svc in config["services"].items()
        if not svc.get("profiles") or set(svc["profiles"]) & set(profiles)
    }


@pytest.mark.parametrize("profiles", VALID_PROFILE_SETS, ids=",".join)
def test_compose_config_is_valid_for_profile(test_env_file: Path, profiles: tuple[str, ...]) -> None:
    result = compose(test_env_file, "config", "--quiet", profiles=profiles)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("profiles", VALID_PROFILE_SETS, ids=",".join)
def test_every_dependency_of_a_profile_is_started_by_it(
    config: dict[str, Any], profiles: tuple[str, ...]
) -> None:
    active = services_for(config, profiles)
    for name in active:
        depends = config["services"][name].get("depends_on", {})
        missing = {dep for dep, how in depends.items() if how.get("required", True)} - active
        assert not missing, f"profile {profiles}: {name} depends on {missing}, which it does not start"
        optional = {dep for dep, how in depends.items() if not how.get("required", True)}
        if optional and active & {"vllm", "hf-server", "vllm-cpu", "hf-server-cpu"}:
            # locust needs the model from one model-init or the other: exactly one runs.
            assert len(optional & active) == 1, f"profile {profiles}: {name} gets {optional & active}"


def test_profiles_start_the_servers_they_are_named_for(config: dict[str, Any]) -> None:
    servers = {"vllm", "hf-server"}
    assert services_for(config, ("two-gpu",)) & servers == servers
    assert services_for(config, ("one-gpu-vllm",)) & servers == {"vllm"}
    assert services_for(config, ("one-gpu-hf",)) & servers == {"hf-server"}
    assert "loadgen" in services_for(config, ("two-gpu", "compare"))
    assert not {"loadgen", "loadgen-run"} & services_for(config, ("two-gpu",))
    assert "loadgen-run" in services_for(config, ("one-gpu-hf", "run"))
    cpu = services_for(config, ("cpu",))
    assert cpu == {
        "model-init-cpu",
        "vllm-cpu",
        "hf-server-cpu",
        "loadgen-cpu",
        "prometheus",
        "grafana",
        "locust-master",
        "locust-worker",
    }


def test_cpu_servers_answer_to_the_gpu_servers_names(config: dict[str, Any]) -> None:
    # Prometheus's scrape targets, locust's default host and the comparison's URLs name vllm:8000 and
    # hf-server:8001; on the compose network the cpu profile's servers are reached by those names.
    for name, alias in (("vllm-cpu", "vllm"), ("hf-server-cpu", "hf-server")):
        assert config["services"][name]["networks"]["default"]["aliases"] == [alias]
    assert config["services"]["loadgen-cpu"]["command"] == config["services"]["loadgen"]["command"]


def test_a_misspelled_profile_selects_no_service(test_env_file: Path) -> None:
    result = compose(test_env_file, "config", "--services", profiles=("cpuu",))
    assert result.returncode == 0 and result.stdout.strip() == ""  # `up` then says "no service selected"


def test_env_example_chooses_a_profile_every_user_can_start(config: dict[str, Any]) -> None:
    env = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    chosen = tuple(env["COMPOSE_PROFILES"].split(","))
    assert chosen in VALID_PROFILE_SETS


def test_compose_without_grafana_password_fails_with_a_clear_message(tmp_path: Path) -> None:
    env_file = write_env(tmp_path / "no-password.env", {"GRAFANA_ADMIN_PASSWORD": ""})
    result = compose(env_file, "config", "--quiet")
    assert result.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD in .env" in result.stderr


def parsed_args(argv: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    """(positional arguments, {--flag: value or True}) of a command line, so order does not matter."""
    positional: list[str] = []
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        if argv[i].startswith("--"):
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            flags[argv[i]] = argv[i + 1] if has_value else True
            i += 2 if has_value else 1
        else:
            positional.append(argv[i])
            i += 1
    return positional, flags


LAUNCH_SETTINGS = ServeSettings(
    model_dir=Path("/models/Llama-3.2-1B-Instruct"),
    served_model_name="Llama-3.2-1B-Instruct",
    max_model_len=4096,
    dtype="float16",
    device="cuda",
    seed=7,
)


def test_vllm_command_is_the_launch_configuration(config: dict[str, Any]) -> None:
    svc = config["services"]["vllm"]
    launch = VllmLaunch(
        LAUNCH_SETTINGS, port=8000, host="0.0.0.0", gpu_memory_utilization=0.45, max_num_seqs=128
    )
    argv = launch.argv(vllm="vllm")
    assert svc["entrypoint"] == argv[:2] == ["vllm", "serve"]
    assert parsed_args(svc["command"]) == parsed_args(argv[2:])


def test_vllm_environment_has_the_launch_environment(config: dict[str, Any]) -> None:
    env = config["services"]["vllm"]["environment"]
    launch_env = VllmLaunch(ServeSettings(model_dir=Path("/m"), device="cuda"), host="0.0.0.0").env()
    container_paths = {"VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR"}
    assert set(launch_env) <= set(env)
    for key, value in launch_env.items():
        if key not in container_paths:
            assert env[key] == value, key
    assert env["VLLM_CACHE_ROOT"] in mounts(config["services"]["vllm"]).values()


CPU_SETTINGS = ServeSettings(
    model_dir=Path("/models/Llama-3.2-1B-Instruct"),
    served_model_name="Llama-3.2-1B-Instruct",
    max_model_len=4096,
    dtype="float16",
    device="cpu",
    seed=7,
)


def test_vllm_cpu_command_and_environment_are_the_launch_configuration(config: dict[str, Any]) -> None:
    svc = config["services"]["vllm-cpu"]
    launch = VllmLaunch(CPU_SETTINGS, port=8000, host="0.0.0.0", max_num_seqs=128, kv_cache_gib=1)
    argv = launch.argv(vllm="vllm")
    assert parsed_args(svc["command"]) == parsed_args(argv[2:])
    env = svc["environment"]
    for key, value in launch.env().items():
        if key not in {"VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR"}:
            assert env[key] == value, key
    assert "deploy" not in svc and "ipc" not in svc


def test_hf_server_cpu_command_is_the_launch_configuration(config: dict[str, Any]) -> None:
    svc = config["services"]["hf-server-cpu"]
    argv = HfLaunch(
        CPU_SETTINGS, port=8001, host="0.0.0.0", max_batch_size=16, max_wait_ms=5, burst_gap_ms=3
    ).argv()
    assert parsed_args(svc["command"]) == parsed_args(argv[3:])
    assert "deploy" not in svc


def test_hf_server_command_is_the_launch_configuration(config: dict[str, Any]) -> None:
    svc = config["services"]["hf-server"]
    argv = HfLaunch(
        LAUNCH_SETTINGS, port=8001, host="0.0.0.0", max_batch_size=16, max_wait_ms=5, burst_gap_ms=3
    ).argv()
    assert argv[1:4] == ["-m", "servers.hf", "serve"]
    assert parsed_args(svc["command"]) == parsed_args(argv[3:])


def test_hf_server_image_runs_the_hf_server_module() -> None:
    dockerfile = (REPO_ROOT / "docker" / "hf-server.Dockerfile").read_text()
    assert 'ENTRYPOINT ["python3", "-m", "servers.hf"]' in dockerfile


def test_each_server_reserves_its_own_gpu(config: dict[str, Any]) -> None:
    for name, gpu_id in (("vllm", "2"), ("hf-server", "3")):
        svc = config["services"][name]
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "device_ids": [gpu_id], "capabilities": ["gpu"]}], name
        assert svc["ipc"] == "host"


def test_the_gpu_comparison_can_read_the_gpus_but_not_compute_on_them(config: dict[str, Any]) -> None:
    devices = config["services"]["loadgen"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [
        {"driver": "nvidia", "count": -1, "capabilities": ["utility"]}
    ]  # all GPUs, nvidia-smi only
    assert "deploy" not in config["services"]["loadgen-cpu"]  # a machine without a GPU starts it too


def test_gpu_services_wait_for_the_model_and_share_the_hf_cache(config: dict[str, Any]) -> None:
    for name in ("vllm", "hf-server"):
        svc = config["services"][name]
        assert svc["depends_on"]["model-init"]["condition"] == "service_completed_successfully"
        volumes = mounts(svc)
        assert volumes["hf-cache"] == "/cache/huggingface"
        assert svc["environment"]["HF_HOME"] == "/cache/huggingface"
        assert volumes["models"] == "/models"


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """{volume name or host path: container path} of a resolved service (Compose v2's long syntax)."""
    return {str(v["source"]): str(v["target"]) for v in service.get("volumes", [])}


def duration_s(text: str) -> float:
    """Seconds in a compose duration such as `1m30s` or `20m`."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


@pytest.mark.parametrize(
    "name,min_start_s",
    [
        ("vllm", 600),
        ("hf-server", 600),
        ("prometheus", 10),
        ("grafana", 10),
        ("locust-master", 10),
        ("vllm-cpu", 300),
        ("hf-server-cpu", 300),
    ],
)
def test_long_running_services_have_healthchecks(
    config: dict[str, Any], name: str, min_start_s: float
) -> None:
    check = config["services"][name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert duration_s(check["start_period"]) >= min_start_s


def test_dependants_wait_until_services_are_healthy(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert services["locust-worker"]["depends_on"]["locust-master"]["condition"] == "service_healthy"
    for server in ("vllm", "hf-server"):
        assert services["loadgen"]["depends_on"][server]["condition"] == "service_healthy"
        assert services["loadgen-cpu"]["depends_on"][f"{server}-cpu"]["condition"] == "service_healthy"
        assert (
            services[f"{server}-cpu"]["depends_on"]["model-init-cpu"]["condition"]
            == "service_completed_successfully"
        )


def published(config: dict[str, Any], name: str) -> list[tuple[str, int]]:
    """(host interface, container port) for every port `name` publishes."""
    out = []
    for port in config["services"][name].get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), int(port["target"])))
        else:
            host_ip, _, target = str(port).rsplit(":", 2)
            out.append((host_ip, int(target.split("/")[0])))
    return out


def test_every_published_port_is_bound_to_localhost_by_default(config: dict[str, Any]) -> None:
    ports = {name: published(config, name) for name in config["services"]}
    assert ports["prometheus"] == [("127.0.0.1", 9090)]
    assert ports["grafana"] == [("127.0.0.1", 3000)]
    for name, bindings in ports.items():
        for host_ip, _ in bindings:
            assert host_ip == "127.0.0.1", f"{name} is published on {host_ip or 'every interface'}"


def test_opting_out_publishes_prometheus_and_grafana_on_all_interfaces(tmp_path: Path) -> None:
    env_file = write_env(
        tmp_path / "open.env",
        {**TEST_ENV, "PROMETHEUS_BIND": "0.0.0.0", "GRAFANA_BIND": "0.0.0.0", "GRAFANA_PORT": "3300"},
    )
    result = compose(env_file, "config", profiles=("*",))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert published(config, "prometheus") == [("0.0.0.0", 9090)]
    assert published(config, "grafana") == [("0.0.0.0", 3000)]
    port = config["services"]["grafana"]["ports"][0]
    assert (port["host_ip"], str(port["published"]), port["target"]) == ("0.0.0.0", "3300", 3000)


def test_locust_workers_can_be_scaled(config: dict[str, Any]) -> None:
    worker = config["services"]["locust-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:4] == ["locust", "-f", "/app/locustfile.py", "--worker"]
    assert worker["command"][-2:] == ["--master-host", "locust-master"]


@pytest.mark.parametrize("name", ["loadgen", "loadgen-run"])
def test_loadgen_one_shots_write_results_to_the_mounted_folder(config: dict[str, Any], name: str) -> None:
    # loadgen writes to results/<timestamp> under its working directory, /app in the image.
    svc = config["services"][name]
    assert "--output-dir" not in svc["command"]
    assert "/app/results" in mounts(svc).values()
    dockerfile = (REPO_ROOT / "docker" / "loadgen.Dockerfile").read_text()
    final_stage = dockerfile[dockerfile.rindex("FROM ") :]
    assert "WORKDIR /app\n" in final_stage


def variables_used(text: str) -> set[str]:
    """Names of every ${VAR...} the compose file interpolates."""
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))


def test_env_example_documents_every_variable_the_compose_file_reads() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line)
    }
    missing = variables_used(COMPOSE_FILE.read_text()) - documented
    assert not missing, f".env.example lacks {sorted(missing)}"
