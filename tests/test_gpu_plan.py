"""`benchmarks/gpu_host.sh` on the GPU host, checked here without one: every subcommand's DRY_RUN
command lines parse with the command they call, name the right presets and options, and the server
start/stop helpers really start and stop a server.

Flags another branch adds to `loadgen compare` (docs: the CLI contract of issue 10 and the stats work)
are checked for their values, not by click, until they exist here.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import pytest

from tests.fixtures.procs import REPO_ROOT, free_port

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_host.sh"
CONTRACT_FLAGS: dict[str, Callable[[str], bool] | None] = {
    "--workload": lambda v: v in ("synthetic", "sharegpt", "jsonl"),
    "--dataset-path": lambda v: bool(v),
    "--sweep": lambda v: v == "output-variance",
    "--n": lambda v: v.isdigit() and int(v) >= 1,
    "--repeats": lambda v: v.isdigit() and int(v) >= 1,
    "--arrival": lambda v: v in ("poisson", "gamma"),
    "--capacity-search": None,
    "--capacity-max-rate": lambda v: float(v) > 0,
    "--capacity-min-rate": lambda v: float(v) > 0,
    "--capacity-steps": lambda v: v.isdigit() and int(v) >= 1,
    "--rerun-client-bound": None,
}
"""Flag -> validator of its value (None: a flag without a value)."""


def run_script(
    args: Sequence[str], env: Mapping[str, str], *, dry: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`gpu_host.sh ARGS` with `env` added to the environment; with `dry`, under DRY_RUN=1."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **({"DRY_RUN": "1"} if dry else {}), **env},
        timeout=timeout,
    )


def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`DRY_RUN=1 gpu_host.sh ARGS`, with `env` added to the environment."""
    return run_script(args, env)


def dry_run(*args: str, **env: str) -> list[list[str]]:
    """The commands `DRY_RUN=1 gpu_host.sh ARGS` prints, split as the shell would."""
    done = script(*args, **env)
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    return [shlex.split(line[2:]) for line in lines if line.startswith("+ ")]


def claim_adds(commands: list[list[str]]) -> list[tuple[str, list[str]]]:
    """The `benchmarks.claims add` commands among `commands`, in order, each with the claim id it adds."""
    return [(a[a.index("add") + 2], a) for a in commands if "benchmarks.claims" in a and "add" in a]


def run_args(argv: list[str]) -> list[str]:
    """The run directories a `claims add` command reads, in order (each `--run` value)."""
    return [argv[i + 1] for i, word in enumerate(argv) if word == "--run"]


def left_on_host(results: Path, *names: str) -> Path:
    """`results` holding empty run directories (a `run.json` each) named `names`, as earlier calls on a
    lease leave them."""
    for name in names:
        (results / name).mkdir(parents=True)
        (results / name / "run.json").write_text("{}")
    return results


def _strip_prefix(argv: list[str]) -> list[str]:
    while argv and argv[0] in ("timeout", "env", "setsid"):
        if argv[0] == "timeout":
            argv = argv[2:]
        elif argv[0] == "env":
            argv = argv[1:]
            while argv and "=" in argv[0]:
                argv = argv[1:]
        else:
            argv = argv[1:]
    return argv


def _without_contract_flags(command: click.Command, args: list[str]) -> list[str]:
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    kept: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg in CONTRACT_FLAGS and arg not in known:
            check = CONTRACT_FLAGS[arg]
            if check is not None:
                value = next(rest)
                assert check(value), f"{arg} {value!r} is not a value the contract allows"
            continue
        kept.append(arg)
    return kept


def parse_click(command: click.Command, name: str, args: list[str]) -> click.Context:
    """Parse `args` as `command` would (raises on unknown options or bad values)."""
    return command.make_context(name, _without_contract_flags(command, args), resilient_parsing=False)


def check_command(argv: list[str]) -> dict[str, Any]:
    """Parse one printed command with the program it calls; return its parsed parameters."""
    argv = _strip_prefix(argv)
    program = argv[0]
    if program in ("mkdir", "cp", "tar", "grep", "du", "stop", "export", "curl"):
        return {}
    assert program in ("python3", sys.executable), f"unexpected program {argv}"
    assert argv[1] == "-m", argv
    module, args = argv[2], argv[3:]
    if module == "loadgen":
        from loadgen.cli import main as loadgen_cli

        sub = loadgen_cli.commands[args[0]]
        return dict(parse_click(sub, f"loadgen {args[0]}", args[1:]).params)
    if module == "servers.hf":
        from servers.hf.__main__ import cli

        return dict(parse_click(cli.commands[args[0]], args[0], args[1:]).params)
    if module == "servers.vllm":
        from servers.vllm.__main__ import main as vllm_cli

        return dict(parse_click(vllm_cli, "vllm-server", args).params)
    if module == "benchmarks.claims":
        from benchmarks.claims import build_parser as claims_parser

        return vars(claims_parser().parse_args(args))
    if module == "benchmarks.hf_batch_probe":
        from benchmarks.hf_batch_probe import build_parser as probe_parser

        return vars(probe_parser().parse_args(args))
    if module == "benchmarks.greedy_noise":
        from benchmarks.greedy_noise import build_parser as noise_parser

        return vars(noise_parser().parse_args(args))
    if module == "benchmarks.batch_steps":
        from benchmarks.batch_steps import build_parser as steps_parser

        return vars(steps_parser().parse_args(args))
    if module == "benchmarks.sharegpt_subset":
        from benchmarks.sharegpt_subset import build_parser as subset_parser

        return vars(subset_parser().parse_args(args))
    raise AssertionError(f"no check for python -m {module}")


def test_the_steps_outside_the_default_list_parse_too(tmp_path: Path) -> None:
    commands = dry_run("claims", str(tmp_path), "noise-7b", "noise-13b")
    noise = [a for a in commands if "benchmarks.greedy_noise" in a]
    assert len(noise) == 2
    for argv in commands:
        check_command(argv)
    assert check_command(noise[1])["model_dir"] == Path("/root/models/llama-2-13b-shape")


@pytest.mark.parametrize("subcommand", ["claims", "seeds", "two-gpu", "hf-burst", "workstation"])
def test_every_dry_run_command_parses(subcommand: str, tmp_path: Path) -> None:
    args = [subcommand] if subcommand == "workstation" else [subcommand, str(tmp_path)]
    commands = dry_run(*args)
    assert commands
    for argv in commands:
        check_command(argv)


def test_hf_burst_runs_the_fixed_window_then_the_burst_gap(tmp_path: Path) -> None:
    commands = [_strip_prefix(a) for a in dry_run("hf-burst", str(tmp_path))]
    servers = [check_command(a) for a in commands if a[2:4] == ["servers.hf", "serve"]]
    assert [s["burst_gap_ms"] for s in servers] == [0.0, 10.0]
    assert all(s["max_wait_ms"] == 10.0 and s["max_batch_size"] == 256 for s in servers)
    runs = [check_command(a) for a in commands if a[2:4] == ["loadgen", "run"]]
    assert len(runs) == 2


def test_claims_runs_every_announcement_setting_on_identical_weights(tmp_path: Path) -> None:
    commands = [_strip_prefix(a) for a in dry_run("claims", str(tmp_path))]
    compares = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert len(compares) == 9  # with prepare-7b's and prepare-13b's short compile-cache warm-ups
    for argv in compares:
        assert "--random-weights" not in argv  # identical saved weights, not two random draws
        assert argv[argv.index("--model-dir") + 1].startswith("/root/models/llama-2-")
        # the memory vLLM had in the claim's setting: 90% of an A10G (7B) or of an A100-40GB (13B)
        budget = {"7b": "22", "13b": "36"}[argv[argv.index("--model-dir") + 1].split("-")[-2]]
        assert argv[argv.index("--gpu-memory-gib") + 1] == budget
        assert 2 * int(budget) <= 78 - 2  # both servers at once on an 80 GB H100, beside two contexts
        assert argv[argv.index("--vllm-over-budget") + 1] == "restart"  # its CUDA graphs inside the budget
    sharegpt = [a for a in compares if "sharegpt" in a]
    assert {a[a.index("--n") + 1] for a in sharegpt if "--n" in a} == {"1", "3"}
    saturation = [a for a in sharegpt if "--n" in a]
    for argv in saturation:  # every request available at once
        assert argv[argv.index("--concurrency") + 1] == argv[argv.index("--num-requests") + 1]
        assert argv[argv.index("--warmup") + 1] == "0"
    weights = [a for a in commands if a[2:5] == ["servers.hf", "init-weights"] or a[3:4] == ["init-weights"]]
    assert {a[a.index("init-weights") + 1] for a in weights} == {
        "/root/models/llama-2-7b-shape",
        "/root/models/llama-2-13b-shape",
    }
    claimed = {claim_id for claim_id, _ in claim_adds(commands)}
    assert {"vllm-hf-n1-7b", "vllm-hf-n3-13b", "static-batching-variance", "llama2-7b-traffic"} <= claimed


def test_vllm_may_keep_its_excess_to_match_the_runs_before_the_restart(tmp_path: Path) -> None:
    commands = [_strip_prefix(a) for a in dry_run("claims", str(tmp_path), VLLM_OVER_BUDGET="keep")]
    compares = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert compares and all(a[a.index("--vllm-over-budget") + 1] == "keep" for a in compares)


def test_seeds_covers_the_four_write_ups(tmp_path: Path) -> None:
    commands = [_strip_prefix(a) for a in dry_run("seeds", str(tmp_path))]
    text = [shlex.join(a) for a in commands]
    assert any("--dtype float32" in t and "tinyllama-1.1b-shape" in t and "init-weights" in t for t in text)
    compares = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    outputs = {a[a.index("--output-len") + 1] for a in compares if "vllm=http://127.0.0.1:8000" in a}
    assert outputs == {"64", "256", "512"}
    dtypes = {a[a.index("--dtype") + 1] for a in compares if "tinyllama" in shlex.join(a)}
    assert dtypes == {"float16", "float32"}
    # write-up 2 measures load time: no restart that would make vLLM's serving start a warm one
    over = {a[a.index("--vllm-over-budget") + 1] for a in compares if "tinyllama" in shlex.join(a)}
    assert over == {"keep"}
    qwen_over = {a[a.index("--vllm-over-budget") + 1] for a in compares if "qwen2.5-7b" in shlex.join(a)}
    assert qwen_over == {"restart"}  # write-up 3 is about the budget: vLLM held to it
    qwen = next(a for a in compares if "qwen2.5-7b-shape" in shlex.join(a))
    assert qwen[qwen.index("--gpu-memory-gib") + 1] == "24"
    from benchmarks.claims_catalog import CATALOG

    claimed = {claim_id for claim_id, _ in claim_adds(commands)}
    issue_12 = {claim_id for claim_id, claim in CATALOG.items() if claim.issue == 12}
    assert claimed == issue_12 - {"llama2-7b-toks-ratio", "llama2-7b-traffic"}  # from the claims runs


def test_prepare_starts_vllm_as_the_measuring_steps_do(tmp_path: Path) -> None:
    """The warm-up fills vLLM's compile cache only if its launch options are the measuring steps'."""
    commands = [_strip_prefix(a) for a in dry_run("claims", str(tmp_path), "prepare-7b", "n1-7b")]
    warm, measure = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert "results/claims-warm-llama-2-7b" in warm and "results/claims-n1-7b" in measure

    def launch(argv: list[str]) -> list[str]:
        start = argv.index("--launch")
        return argv[start : argv.index("--workload")]

    assert launch(warm) == launch(measure)


def test_a_step_list_runs_only_those_steps(tmp_path: Path) -> None:
    commands = [shlex.join(a) for a in dry_run("claims", str(tmp_path), "n1-13b")]
    assert any("claims-n1-13b" in c for c in commands)
    assert not any("llama-2-7b" in c for c in commands)


def test_workstation_makes_every_preset_the_host_needs() -> None:
    from servers.hf.presets import PRESETS

    made = [a for a in dry_run("workstation") if "make-config" in a]
    presets = {a[a.index("--preset") + 1] for a in made}
    assert presets <= set(PRESETS)
    assert {"llama-2-7b", "llama-2-13b", "llama-3.2-3b", "tinyllama-1.1b", "qwen2.5-7b"} <= presets


def test_two_gpu_compares_identical_weights_side_by_side_and_on_one_gpu(tmp_path: Path) -> None:
    commands = [_strip_prefix(a) for a in dry_run("two-gpu", str(tmp_path))]
    text = [shlex.join(a) for a in commands]
    assert "+ export CUDA_VISIBLE_DEVICES=0" in [f"+ {t}" for t in text]
    compares = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert len(compares) == 2 and all(a[a.index("--repeats") + 1] == "3" for a in compares)
    assert not any("--random-weights" in a for a in commands)  # the dry run assumes room for 70B weights
    servers = [a for a in commands if a[2:3] in (["servers.vllm"], ["servers.hf"]) and "--port" in a]
    big = [a for a in servers if "/root/models/llama-2-70b-shape" in a]
    assert any("--tensor-parallel-size" in a for a in big) and any("--device-map" in a for a in big)


def test_an_unknown_step_is_refused(tmp_path: Path) -> None:
    done = script("claims", str(tmp_path), "n2-7b")
    assert done.returncode == 2 and "unknown step n2-7b" in done.stderr


def shell_functions(*names: str) -> str:
    """The definitions of `names` in gpu_host.sh, to run in a script of a test's own."""
    ranges = ";".join(f"/^{name}()/,/^}}/p" for name in names)
    done = subprocess.run(["sed", "-n", ranges, str(SCRIPT)], capture_output=True, text=True, check=True)
    return done.stdout


def test_start_and_stop_server_manage_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    functions = shell_functions("start_server", "stop_server")
    script = (
        f"set -euo pipefail\n{functions}\n"
        f"start_server simtest {port} {tmp_path}/sim.log {sys.executable} -m servers.sim --port {port}\n"
        f"curl -sf http://127.0.0.1:{port}/health >/dev/null\n"
        "stop_server simtest\n"
        f"! curl -sf --max-time 2 http://127.0.0.1:{port}/health\n"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "simtest healthy" in done.stdout


def run_functions(script: str) -> subprocess.CompletedProcess[str]:
    """Run a test's bash script of gpu_host.sh functions from the repository root, with this Python
    first on PATH (as `python3`)."""
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        timeout=60,
    )


def test_watch_host_samples_the_host_in_the_background(tmp_path: Path) -> None:
    functions = shell_functions("watch_host")
    out = tmp_path / "host-speed.csv"
    script = f"set -euo pipefail\n{functions}\nwatch_host {out}\necho started\n"
    started = time.monotonic()
    done = run_functions(script)
    assert done.returncode == 0 and done.stdout == "started\n"
    assert time.monotonic() - started < 10  # the call goes on while the watch samples
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.exists() and len(out.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    pattern = f"host_watch watch --out {out}"
    subprocess.run(["pkill", "-f", pattern], check=False)
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0
    ):
        time.sleep(0.1)  # SIGTERM ends the watch within its 0.2 s sleep
    assert out.read_text().splitlines()[0] == "unix_s,python_ns_per_iter,steal_pct,busy_pct,load_avg_1m"
    assert len(out.read_text().splitlines()) >= 2


def test_the_samplers_stop_when_the_script_exits(tmp_path: Path) -> None:
    """A call's samplers end with it: left running, host_watch outlived the call by up to 600 s and
    wrote into OUT while it was packed."""
    functions = shell_functions("stop_samplers", "watch_host")
    out = tmp_path / "host-speed.csv"
    pattern = f"host_watch watch --out {out}"
    script = (
        f"set -euo pipefail\nsamplers=()\n{functions}\ntrap stop_samplers EXIT\nwatch_host {out}\n"
        f"for _ in $(seq 100); do [ -s {out} ] && break; sleep 0.1; done\n"
        f"pgrep -f '{pattern}' >/dev/null && echo running\n"
    )
    done = run_functions(script)
    assert done.returncode == 0 and done.stdout == "running\n", done.stderr
    still = subprocess.run(["pgrep", "-f", pattern], capture_output=True)
    if still.returncode == 0:
        subprocess.run(["pkill", "-f", pattern], check=False)
    assert still.returncode != 0, "host_watch outlived the script"
    assert out.read_text().startswith("unix_s,python_ns_per_iter")
    assert "trap stop_samplers EXIT" in SCRIPT.read_text()


def test_a_step_limit_past_what_a_device_call_holds_is_warned_about(tmp_path: Path) -> None:
    def warned(limit: str) -> bool:
        done = script("claims", str(tmp_path), "n1-7b", STEP_TIMEOUT=limit)
        assert done.returncode == 0, done.stderr
        return "STEP_TIMEOUT=" in done.stderr

    assert warned("570") and not warned("540")


def test_queue_7b_takes_two_levels_in_turn_on_one_hf_server_started_as_compare_starts_it(
    tmp_path: Path,
) -> None:
    from servers.vllm.launch import HfLaunch, ServeSettings

    queue_dir = REPO_ROOT / "results" / "queue-7b"
    existed = queue_dir.exists()
    done = script("claims", str(tmp_path), "queue-7b", HF_MAX_BATCH="7")
    assert done.returncode == 0, done.stderr
    assert queue_dir.exists() == existed  # a dry run writes nothing
    lines = (done.stdout + done.stderr).splitlines()
    commands = [_strip_prefix(shlex.split(line[2:])) for line in lines if line.startswith("+ ")]
    for argv in commands:
        check_command(argv)
    settings = ServeSettings(
        model_dir=Path("/root/models/llama-2-7b-shape"),
        served_model_name="llama-2-7b-shape",
        max_model_len=2048,
        device="cuda",
    )
    compare_hf = HfLaunch(settings, port=8012, max_batch_size=7, gpu_memory_gib=22).argv("python3")
    assert [a for a in commands if a[2:4] == ["servers.hf", "serve"]] == [compare_hf]
    runs = [check_command(a) for a in commands if a[2:4] == ["loadgen", "run"]]
    assert [r["concurrency"] for r in runs] == [(16,), (64,), (16,), (64,)]
    assert all(r["warmup"] == 7 and r["num_requests"] == 28 for r in runs)
    steps = next(a for a in commands if a[2:3] == ["benchmarks.batch_steps"])
    assert [s.split("=")[0] for s in steps[3:]] == ["c16", "c64", "c16", "c64"]


def test_stopping_a_server_leaves_the_script_running_and_its_children_stopped(tmp_path: Path) -> None:
    # A server ended by SIGTERM exits non-zero; under `set -e` the script's wait on it must not end
    # the call (it did: every step after a stop_server, and its tarball, was lost). Its child (an
    # engine process) goes with it: the server leads a process group of its own.
    functions = shell_functions("start_server", "stop_server")
    port = free_port()
    child = tmp_path / "child.pid"
    server = (
        f"import http.server, os, subprocess; "
        f"open({str(child)!r}, 'w').write(str(subprocess.Popen(['sleep', '300']).pid)); "
        f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    name = f"test-stop-{port}"
    script = (
        f"set -euo pipefail\n{functions}\n"
        f"start_server {name} {port} {tmp_path / 'server.log'} {shlex.quote(sys.executable)} -c "
        f"{shlex.quote(server)}\n"
        f"stop_server {name}\necho after-stop\n"
    )
    (tmp_path / "health").write_text("ok")  # what start_server waits for: GET /health answers 200
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "after-stop"
    pid = int(child.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.1)
    assert not _running(pid), "the server's child outlived stop_server"


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting for its parent does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_steps_runs_share_its_step_timeout(tmp_path: Path) -> None:
    """A step of several compare runs (batches-3b, tinyllama) stops within STEP_TIMEOUT as one run
    does: each run's limit is what is left of the step's, and a run with nothing left is skipped."""
    functions = shell_functions("compare_run", "set_aside", "quoted")
    script = (
        f"set -euo pipefail\n{functions}\n"
        f"out={tmp_path} results={tmp_path}/results step_timeout=540\n"
        "step_deadline=$((SECONDS + 200)) DRY_RUN=1 compare_run first --concurrency 1\n"
        "step_deadline=$((SECONDS + 5)) compare_run second --concurrency 1\n"
        "echo still-running\n"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    first = shlex.split(done.stdout.splitlines()[0][2:])
    assert first[0] == "timeout" and 195 <= int(first[1]) <= 200
    assert "second: not run, the step's 540 s (STEP_TIMEOUT) are spent" in done.stderr
    assert (tmp_path / "second.txt").read_text().startswith("second: not run")
    assert done.stdout.splitlines()[-1] == "still-running"
    assert not (tmp_path / "results").exists()


def test_tinyllama_splits_by_precision_over_two_calls(tmp_path: Path) -> None:
    """TINYLLAMA_DTYPES=float32 launches only the fp32 compare; every row is still asked for (those
    of the fp16 run from its directory, left by an earlier call on the lease)."""
    commands = [
        _strip_prefix(a) for a in dry_run("seeds", str(tmp_path), "tinyllama", TINYLLAMA_DTYPES="float32")
    ]
    compares = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert [a[a.index("--dtype") + 1] for a in compares] == ["float32"]
    # one HF batch a level: repeated in turns, so a flip of the host's speed shows in the interval
    assert compares[0][compares[0].index("--repeats") + 1] == "3"
    claimed = [claim_id for claim_id, _ in claim_adds(commands)]
    assert "tinyllama-vllm-fp16-toks" in claimed and "tinyllama-agree-hf-fp16-fp32" in claimed


def test_the_variance_sweep_splits_over_calls_and_its_rows_read_every_part(tmp_path: Path) -> None:
    """VARIANCE_SPREADS runs part of the sweep into a run of its own; the rows read it with the parts
    earlier calls on the lease left in RESULTS, not with a run set aside."""
    results = left_on_host(
        tmp_path / "results",
        "claims-variance-7b-fixed-uniform",
        "claims-variance-7b-exponential.before-101500",
    )
    commands = [
        _strip_prefix(a)
        for a in dry_run(
            "claims", str(tmp_path / "out"), "variance-7b",
            VARIANCE_SPREADS="exponential", N_VARIANCE="192", RESULTS=str(results),
        )
    ]  # fmt: skip
    (compare,) = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert compare[compare.index("--variance-spreads") + 1] == "exponential"
    assert compare[compare.index("--num-requests") + 1] == "192"
    assert compare[compare.index("--output-dir") + 1] == f"{results}/claims-variance-7b-exponential"
    rows = claim_adds(commands)
    assert [claim_id for claim_id, _ in rows] == ["static-batching-variance", "static-batching-falls"]
    for _, row in rows:
        runs = run_args(row)
        assert runs == [
            f"{results}/claims-variance-7b-exponential",
            f"{results}/claims-variance-7b-fixed-uniform",
        ]


def test_a_finer_qwen_sweep_runs_apart_and_its_rows_read_every_qwen_run(tmp_path: Path) -> None:
    """QWEN_CONCURRENCY runs finer levels into a run of their own; the three concurrency rows read
    it with the first run left in RESULTS by an earlier call, not with a run set aside."""
    results = left_on_host(tmp_path / "results", "seeds-qwen-24g", "seeds-qwen-24g-80-96-112.before-101500")
    commands = [
        _strip_prefix(a)
        for a in dry_run(
            "seeds", str(tmp_path / "out"), "qwen-24g",
            QWEN_CONCURRENCY="80,96,112", QWEN_REQUESTS="112", RESULTS=str(results),
        )
    ]  # fmt: skip
    (compare,) = [a for a in commands if a[2:4] == ["loadgen", "compare"]]
    assert compare[compare.index("--concurrency") + 1] == "80,96,112"
    assert compare[compare.index("--num-requests") + 1] == "112"
    assert compare[compare.index("--output-dir") + 1] == f"{results}/seeds-qwen-24g-80-96-112"
    rows = [(claim_id, row) for claim_id, row in claim_adds(commands) if claim_id.startswith("qwen-")]
    assert [claim_id for claim_id, _ in rows] == [
        "qwen-concurrency-ratio", "qwen-hf-max-concurrency", "qwen-vllm-max-concurrency",
    ]  # fmt: skip
    for _, row in rows:
        runs = run_args(row)
        assert runs == [f"{results}/seeds-qwen-24g-80-96-112", f"{results}/seeds-qwen-24g"]


def test_qwen_alloc_tries_the_hf_batches_under_each_allocator_setting(tmp_path: Path) -> None:
    """Write-up 3's HF limit with PyTorch's default allocator, then with expandable segments: the same
    24 GiB cap and lengths as `qwen-24g`, no vLLM and no row."""
    commands = dry_run("seeds", str(tmp_path), "qwen-alloc", QWEN_ALLOC_BATCHES="88,96")
    probes = [a for a in commands if "benchmarks.hf_batch_probe" in a]
    assert len(probes) == 2 and not claim_adds(commands)
    assert not any("loadgen" in a or "servers.vllm" in a for a in commands)
    assert "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" not in probes[0]
    assert probes[1][:2] == ["env", "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"]
    for argv, tag in zip(probes, ("default", "expandable_segments"), strict=True):
        params = check_command(argv)
        assert params["try_batches"] == (88, 96) and params["gpu_memory_gib"] == 24
        assert (params["prompt_len"], params["total_len"]) == (512, 640)  # qwen-24g's 512 in / 128 out
        assert params["out"] == tmp_path / f"qwen-alloc-{tag}.json"
