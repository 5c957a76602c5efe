"""Start a server (or any command) in its own process group, wait until it is healthy, and stop it.

The one way servebench starts processes that outlive a function call: `loadgen run --sim`,
`loadgen compare --launch`, the benchmarks and the test fixtures all use it.

- `start_process` runs a command in a new session (so it leads its own process group and Ctrl-C in
  the terminal does not reach it) with its stdout and stderr going to a log file.
- `wait_healthy` polls a URL until it answers 200, within a deadline counted from the start; a process
  that exits first, or a deadline that passes, is a `LaunchError` whose one-line message ends with
  the log's last lines.
- `stop_process` sends SIGTERM to the whole group, waits a grace period for every member, sends
  SIGKILL to what is left, and reaps the leader. `Launched` is a context manager that does the same.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from loadgen.redact import redact_text

DEFAULT_GRACE_S = 20.0
"""How long a stopped process group has between SIGTERM and SIGKILL."""
REAP_TIMEOUT_S = 10.0
"""How long the leader has to disappear after SIGKILL (longer means it is stuck in the kernel)."""
HEALTH_REQUEST_TIMEOUT_S = 2.0
TAIL_LINES = 15


class LaunchError(RuntimeError):
    """A process could not be started, exited before it was healthy, or was not healthy in time."""


@dataclass
class Launched:
    """A command started by `start_process`: its own process group, its output in `log_path`."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    started: float
    """`time.perf_counter()` just before the process was started."""
    stdout_path: Path | None = None
    """Where stdout went when it was kept apart from the log (stderr)."""
    grace_s: float = DEFAULT_GRACE_S
    temporary_log: bool = False
    """The log is a temporary file that `stop` removes."""

    @property
    def pid(self) -> int:
        """The process id of the leader (and the id of its process group)."""
        return self.process.pid

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        """The log's last `lines` lines, secrets redacted ("" when it cannot be read)."""
        return log_tail(self.log_path, lines)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop the process group (`stop_process`, `grace_s` defaulting to the one given at start);
        remove the log if it was temporary."""
        try:
            stop_process(self.process, self.grace_s if grace_s is None else grace_s)
        finally:
            if self.temporary_log:
                self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Launched:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a server about to start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log file, secrets redacted ("" when it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return redact_text("\n".join(text.splitlines()[-lines:]))


def start_process(
    argv: Sequence[str],
    log_path: Path | None = None,
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout_path: Path | None = None,
    grace_s: float = DEFAULT_GRACE_S,
) -> Launched:
    """Start `argv` in a new session (its own process group), stdout and stderr written to `log_path`.

    `log_path` None: a temporary file, removed by `Launched.stop`. `stdout_path`: stdout goes there
    instead and only stderr to the log. `env` is added to this process's environment, with
    `PYTHONUNBUFFERED=1` so a Python server's log is current when its tail is read. `name` labels
    error messages (default: the executable's name). Raises `LaunchError` when the command cannot be
    executed (not found, not executable).
    """
    argv = list(argv)
    label = name or Path(argv[0]).name
    temporary = log_path is None
    if log_path is None:
        handle, temp_name = tempfile.mkstemp(prefix=f"servebench-{_slug(label)}-", suffix=".log")
        os.close(handle)
        log_path = Path(temp_name)
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    started = time.perf_counter()
    with ExitStack() as files:
        log = files.enter_context(log_path.open("wb"))
        out = None
        if stdout_path is not None:
            stdout_path.parent.mkdir(parents=True, exist_ok=True)
            out = files.enter_context(stdout_path.open("wb"))
        try:
            process = subprocess.Popen(
                argv,
                stdout=log if out is None else out,
                stderr=subprocess.STDOUT if out is None else log,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            if temporary:
                log_path.unlink(missing_ok=True)
            what = "not found" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
            raise LaunchError(f"cannot start {label}: {argv[0]} {what}") from None
    return Launched(label, argv, process, log_path, started, stdout_path, grace_s, temporary)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "process"


def wait_healthy(
    launched: Launched, url: str, timeout_s: float, *, poll_s: float = 0.1, tail_lines: int = TAIL_LINES
) -> float:
    """Poll `url` until it answers 200 and return the seconds since the process started.

    The deadline is `timeout_s` after the start. Raises `LaunchError` (the process is left running;
    stop it) when the process exits first or the deadline passes; the message is one line ending
    with the log's last `tail_lines` lines joined by " | ".
    """
    deadline = launched.started + timeout_s
    with httpx.Client(trust_env=False) as client:  # a local server: never through a proxy
        while True:
            if launched.process.poll() is not None:
                raise _failure(
                    launched, f"exited with status {launched.process.returncode} while starting", tail_lines
                )
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise _failure(launched, f"was not healthy after {timeout_s:g} s", tail_lines)
            try:
                response = client.get(url, timeout=min(HEALTH_REQUEST_TIMEOUT_S, remaining))
                if response.status_code == 200:
                    return time.perf_counter() - launched.started
            except httpx.HTTPError:
                pass
            time.sleep(max(0.0, min(poll_s, deadline - time.perf_counter())))


def _failure(launched: Launched, what: str, tail_lines: int) -> LaunchError:
    where = "" if launched.temporary_log else f"; log {launched.log_path}"
    lines = (line.strip() for line in launched.log_tail(tail_lines).splitlines())
    tail = " | ".join(line for line in lines if line.strip("^~ "))  # not blank, not a traceback's carets
    return LaunchError(f"{launched.name} {what}{where}" + (f": {tail}" if tail else ""))


def stop_process(process: subprocess.Popen[bytes], grace_s: float = DEFAULT_GRACE_S) -> None:
    """Stop the process group that `process` leads (it was started with `start_new_session`).

    SIGTERM goes to the whole group; once the leader and every other member have exited, or
    `grace_s` has passed, SIGKILL goes to whatever is left, and it returns once that is gone. The
    leader is reaped either way, so no zombie and no ResourceWarning remain. Members that outlive a
    leader which had already exited are stopped too.
    """
    deadline = time.monotonic() + grace_s
    if process.poll() is None or _group_alive(process):
        _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    while _group_alive(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None or _group_alive(process):
        _signal_group(process.pid, signal.SIGKILL)
        if process.poll() is None:  # it does not lead its group after all
            process.kill()
        process.wait(timeout=REAP_TIMEOUT_S)
        killed = time.monotonic() + REAP_TIMEOUT_S
        while _group_alive(process) and time.monotonic() < killed:  # SIGKILL lands asynchronously
            time.sleep(0.01)


def _signal_group(group: int, signum: signal.Signals) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:  # every member has exited
        pass


def _group_alive(leader: subprocess.Popen[bytes]) -> bool:
    """Whether a process of the group `leader` led is still running. Zombies, which only wait for
    their parent to reap them, do not count (a container's init may never reap them)."""
    group = leader.pid
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: any member, zombies included
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    if leader.returncode is not None and (proc / str(group)).exists():
        # The kernel keeps a group's id from being reused while the group has members, so a new
        # process with the reaped leader's pid means the group is gone (and that one is not ours).
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # after "pid (comm) ": state, ppid, pgrp, ... (comm may itself contain spaces and parentheses)
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state not in ("Z", "X"):
            return True
    return False
