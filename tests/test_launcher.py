"""The process launcher with real subprocesses: healthy within the deadline, early death and a passed
deadline as one-line errors with the log's tail, and a stop that leaves no process of the group behind."""

from __future__ import annotations

import gc
import sys
import time
import warnings
from pathlib import Path

import httpx
import psutil
import pytest

from loadgen.launcher import LaunchError, free_port, start_process, stop_process, wait_healthy

PY = sys.executable


def http_server(port: int, directory: Path) -> list[str]:
    return [PY, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(directory), str(port)]


def gone(pid: int) -> bool:
    """Whether `pid` no longer runs (a zombie waiting for a parent that is not us counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for_line(path: Path, prefix: str, timeout_s: float = 20.0) -> str:
    """The first line of the file at `path` that starts with `prefix`, once it is there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            if line.startswith(prefix):
                return line
        time.sleep(0.05)
    raise AssertionError(f"{prefix!r} never appeared in {path}: {path.read_text()!r}")


SPAWN_CHILD = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {child!r}])
print("child", child.pid, flush=True)
{leader_rest}
"""
CHILD_IGNORING_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def test_a_server_is_healthy_within_the_deadline_and_stopped_with_its_group(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "logs" / "http.log"
    with start_process(http_server(port, tmp_path), log, name="http") as server:
        elapsed = wait_healthy(server, f"http://127.0.0.1:{port}/", timeout_s=30)
        assert 0 < elapsed < 30
        assert httpx.get(f"http://127.0.0.1:{port}/", trust_env=False).status_code == 200
        assert server.name == "http" and server.pid == server.process.pid
    assert server.process.returncode is not None
    assert gone(server.pid)
    assert "GET / HTTP/1.1" in log.read_text()  # its output went to the log, and the log is kept
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", trust_env=False)


def test_a_process_that_dies_early_is_a_one_line_error_with_its_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    script = (
        "print('loading'); print(); print('  ^^^^'); print('model not found: /nowhere'); raise SystemExit(3)"
    )
    with start_process([PY, "-c", script], log, name="broken") as server:
        started = time.monotonic()
        with pytest.raises(LaunchError) as caught:
            wait_healthy(server, f"http://127.0.0.1:{free_port()}/health", timeout_s=60)
        assert time.monotonic() - started < 30  # noticed as soon as it died, not at the deadline
    message = str(caught.value)
    assert message == (
        f"broken exited with status 3 while starting; log {log}: loading | model not found: /nowhere"
    )


def test_a_process_that_never_answers_fails_at_the_deadline(tmp_path: Path) -> None:
    with start_process([PY, "-c", "print('still loading', flush=True); import time; time.sleep(60)"]) as slow:
        wait_for_line(slow.log_path, "still loading")
        with pytest.raises(LaunchError, match=r"^python\S* was not healthy after 0.5 s: still loading$"):
            wait_healthy(slow, f"http://127.0.0.1:{free_port()}/health", timeout_s=0.5)
        assert slow.process.poll() is None  # the caller decides; the `with` stops it
    assert slow.process.returncode is not None
    assert not slow.log_path.exists()  # a temporary log goes with the process


def test_a_missing_executable_is_a_launch_error(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match=r"^cannot start vllm: /nowhere/vllm not found$"):
        start_process(["/nowhere/vllm", "serve"], tmp_path / "vllm.log", name="vllm")


def test_stop_kills_a_child_that_ignores_sigterm_after_the_grace_period(tmp_path: Path) -> None:
    script = SPAWN_CHILD.format(child=CHILD_IGNORING_TERM, leader_rest="time.sleep(120)")
    leader = start_process([PY, "-c", script], tmp_path / "tree.log", grace_s=0.5)
    child = int(wait_for_line(leader.log_path, "child ").split()[1])
    assert psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    leader.stop()
    assert leader.process.returncode is not None
    assert gone(child)


def test_stop_kills_a_leader_that_ignores_sigterm(tmp_path: Path) -> None:
    leader = start_process(
        [PY, "-c", f"print('ready', flush=True); exec({CHILD_IGNORING_TERM!r})"], tmp_path / "stubborn.log"
    )
    wait_for_line(leader.log_path, "ready")
    stop_process(leader.process, grace_s=0.5)
    assert leader.process.returncode == -9


def test_stop_kills_what_a_leader_that_already_exited_left_behind(tmp_path: Path) -> None:
    script = SPAWN_CHILD.format(child=CHILD_IGNORING_TERM, leader_rest="")
    leader = start_process([PY, "-c", script], tmp_path / "orphan.log", grace_s=0.5)
    child = int(wait_for_line(leader.log_path, "child ").split()[1])
    assert leader.process.wait(timeout=20) == 0
    assert not gone(child)
    leader.stop()
    assert gone(child)


def test_stdout_can_go_to_its_own_file(tmp_path: Path) -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr)"
    with start_process([PY, "-c", script], tmp_path / "p.log", stdout_path=tmp_path / "p.out") as proc:
        proc.process.wait(timeout=20)
    assert (tmp_path / "p.out").read_text() == "out\n"
    assert (tmp_path / "p.log").read_text() == "err\n"


def test_a_stopped_process_is_reaped_so_no_resource_warning(tmp_path: Path) -> None:
    proc = start_process([PY, "-c", "import time; time.sleep(60)"], tmp_path / "sleep.log")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proc.stop()
        del proc
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_stop_leaves_alone_a_group_that_reuses_a_reaped_leaders_pid(tmp_path: Path) -> None:
    """Once the leader is reaped its pid may go to a new session leader: that group is not ours."""
    other = start_process([PY, "-c", "import time; time.sleep(60)"], tmp_path / "other.log")
    with start_process([PY, "-c", "pass"], tmp_path / "done.log") as done:
        done.process.wait(timeout=20)
        done.process.pid = other.pid  # what the kernel may do once the leader is reaped
        stop_process(done.process, grace_s=0.5)
        assert other.process.poll() is None
    other.stop()
    assert other.process.returncode is not None
