"""`loadgen compare --launch`: start vLLM and the HF server locally from the shared launch configuration.

Servers start one after the other, so each one's load time is measured without the other competing
for the CPU: launch to the first healthy answer, and launch to the first generated token (one
one-token greedy completion sent as soon as `/health` is 200, which also pays whatever a server
defers to its first request). Each runs in its own process group (`loadgen.launcher`), its log in
the run's `logs/`, and is stopped with SIGTERM, then SIGKILL, when the comparison ends.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from loadgen.errors import ConfigError
from loadgen.launcher import Launched, LaunchError, start_process, wait_healthy
from loadgen.redact import scrub_file


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
    launched: Launched
    env: dict[str, str]
    """What the launch configuration added to the inherited environment."""
    load_time_s: float
    """From process start to the first 200 from `/health`."""
    first_token_s: float | None = None
    """From process start to the answer of a one-token completion sent right after health; None if
    that request failed (`first_token_error` says why)."""
    first_token_error: str | None = None
    gpu_memory: dict[str, Any] | None = None
    """vLLM's own account of its GPU memory against a budget (`loadgen.compare.budget`), if checked."""

    @property
    def pid(self) -> int:
        """The server's process id (root of its process tree)."""
        return self.launched.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The server's process."""
        return self.launched.process

    @property
    def log_path(self) -> Path:
        """Its stdout and stderr."""
        return self.launched.log_path

    @property
    def argv(self) -> list[str]:
        """Its command line."""
        return self.launched.argv


def start_server(name: str, launch: Launch, log_path: Path, timeout_s: float) -> LaunchedServer:
    """Start one server and wait until `/health` answers 200; raise with its log tail if it cannot."""
    argv, env = launch.argv(), launch.env()
    try:
        launched = start_process(argv, log_path, name=name, env=env)
    except LaunchError as exc:
        raise ConfigError(f"{exc} (run scripts/install.sh)") from None
    server = LaunchedServer(name, launch.base_url, launched, env, 0.0)
    try:  # the server has its own session: Ctrl-C does not reach it, so stop it on any way out
        server.load_time_s = wait_healthy(launched, server.base_url + "/health", timeout_s, poll_s=0.2)
        _time_first_token(server, launched.started, launched.started + timeout_s)
    except LaunchError as exc:
        stop_server(server)
        raise ConfigError(str(exc)) from None
    except BaseException:
        stop_server(server)
        raise
    return server


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
    server.launched.stop(grace_s)
    scrub_file(server.log_path)


MAX_RESTARTS = 2
"""How often `launched` starts a server again when its `refit` asks (vLLM's budget needs at most two:
away from a start-up plan saved for another budget, then to the KV cache that fits)."""


@contextmanager
def launched(
    launches: Sequence[tuple[str, Launch]],
    log_dir: Path,
    timeout_s: float = 300.0,
    on_start: Callable[[str], None] | None = None,
    on_ready: Callable[[LaunchedServer], None] | None = None,
    refit: Callable[[LaunchedServer], Launch | None] | None = None,
) -> Iterator[list[LaunchedServer]]:
    """Start each (name, launch) in turn; stop them all when the block ends (or a start fails).

    `refit`, given each start once it is up, may return a corrected launch: the server is then
    stopped and started again with it (up to `MAX_RESTARTS` times), each earlier start's log kept as
    `NAME-start-K.log`; the serving start's log is `NAME.log`."""
    servers: list[LaunchedServer] = []
    with ExitStack() as stack:
        for name, launch in launches:
            log_path = log_dir / f"{name}.log"
            for attempt in range(1, MAX_RESTARTS + 2):
                if on_start is not None:
                    on_start(name)
                server = start_server(name, launch, log_path, timeout_s)
                with ExitStack() as this_start:  # stops this start unless it is the one kept
                    this_start.callback(stop_server, server)
                    if on_ready is not None:
                        on_ready(server)
                    again = refit(server) if refit is not None and attempt <= MAX_RESTARTS else None
                    if again is None:
                        stack.push(this_start.pop_all())
                if again is None:
                    break
                log_path.rename(log_dir / f"{name}-start-{attempt}.log")
                launch = again
            servers.append(server)
        yield servers
