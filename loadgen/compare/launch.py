"""`loadgen compare --launch`: start vLLM and the HF server locally from the shared launch configuration.

Servers start one after the other, so each one's load time is measured without the other competing
for the CPU: launch to the first healthy answer, and launch to the first generated token (one
one-token greedy completion sent as soon as `/health` is 200, which also pays whatever a server
defers to its first request). Each runs in its own process group and is stopped
with SIGTERM, then SIGKILL, when the comparison ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from loadgen.errors import ConfigError
from loadgen.redact import redact_text, scrub_file


class Launch(Protocol):
    """A server launch configuration (`servers.vllm.launch.VllmLaunch` or `HfLaunch`)."""

    def argv(self) -> list[str]:
        """The command line."""
        ...

    def env(self) -> dict[str, str]:
        """Environment variables added to the inherited environment."""
        ...

    @property
    def base_url(self) -> str:
        """Where the server answers."""
        ...


@dataclass
class LaunchedServer:
    """A server this process started."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str]
    env: dict[str, str]
    load_time_s: float
    """From process start to the first 200 from `/health`."""
    first_token_s: float | None = None
    """From process start to the answer of a one-token completion sent right after health; None if
    that request failed (`first_token_error` says why)."""
    first_token_error: str | None = None

    @property
    def pid(self) -> int:
        """The server's process id (root of its process tree)."""
        return self.process.pid


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return redact_text("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    except OSError:
        return ""


def start_server(name: str, launch: Launch, log_path: Path, timeout_s: float) -> LaunchedServer:
    """Start one server and wait until `/health` answers 200; raise with its log tail if it cannot."""
    argv, env = launch.argv(), launch.env()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ConfigError(f"cannot start {name}: {argv[0]} not found (run scripts/install.sh)") from None
    server = LaunchedServer(name, launch.base_url, process, log_path, argv, env, 0.0)
    deadline = started + timeout_s
    try:  # the server has its own session: Ctrl-C does not reach it, so stop it on any way out
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if process.poll() is not None:
                    raise ConfigError(
                        f"{name} exited with status {process.returncode} while starting; log {log_path}:\n"
                        + _log_tail(log_path)
                    )
                try:
                    if client.get(server.base_url + "/health").status_code == 200:
                        server.load_time_s = time.perf_counter() - started
                        _time_first_token(server, started, deadline)
                        return server
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
    except BaseException:
        stop_server(server)
        raise
    stop_server(server)
    raise ConfigError(
        f"{name} was not healthy after {timeout_s:.0f} s; log {log_path}:\n" + _log_tail(log_path)
    )


FIRST_TOKEN_PROMPT = "Hello"


def _time_first_token(server: LaunchedServer, started: float, deadline: float) -> None:
    """Send one greedy one-token completion and record when its answer came (from `started`)."""
    timeout = max(5.0, deadline - time.perf_counter())
    try:
        with httpx.Client(timeout=timeout) as client:
            models = client.get(server.base_url + "/v1/models")
            models.raise_for_status()
            model = models.json()["data"][0]["id"]
            answer = client.post(
                server.base_url + "/v1/completions",
                json={"model": model, "prompt": FIRST_TOKEN_PROMPT, "max_tokens": 1, "temperature": 0.0},
            )
            answer.raise_for_status()
            if not answer.json()["choices"]:
                raise ValueError("the answer has no choices")
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        server.first_token_error = f"{type(exc).__name__}: {exc}"
        return
    server.first_token_s = time.perf_counter() - started


def stop_server(server: LaunchedServer, grace_s: float = 20.0) -> None:
    """SIGTERM the server's process group, then SIGKILL it after `grace_s`; scrub secrets from its log."""
    stop_process(server.process, grace_s)
    scrub_file(server.log_path)


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM a process started in its own session (and its group), then SIGKILL it after `grace_s`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(timeout=10)


@contextmanager
def launched(
    launches: Sequence[tuple[str, Launch]],
    log_dir: Path,
    timeout_s: float = 300.0,
    on_start: Callable[[str], None] | None = None,
    on_ready: Callable[[LaunchedServer], None] | None = None,
) -> Iterator[list[LaunchedServer]]:
    """Start each (name, launch) in turn; stop them all when the block ends (or a start fails)."""
    servers: list[LaunchedServer] = []
    with ExitStack() as stack:
        for name, launch in launches:
            if on_start is not None:
                on_start(name)
            server = start_server(name, launch, log_dir / f"{name}.log", timeout_s)
            stack.callback(stop_server, server)
            servers.append(server)
            if on_ready is not None:
                on_ready(server)
        yield servers
