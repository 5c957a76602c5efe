"""`--launch` plumbing: servers start in turn, report their load time, and always stop; a server that
dies while starting is a one-line error with its log."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from loadgen.compare.launch import launched
from loadgen.compare.memory import listening_pid, tree_rss_bytes
from loadgen.errors import ConfigError
from loadgen.launcher import free_port


@dataclass
class FakeLaunch:
    """A launch configuration for any command (the scripted server, or one that fails)."""

    command: list[str]
    port: int = field(default_factory=free_port)

    def argv(self) -> list[str]:
        """The command, with `{port}` filled in."""
        return [part.replace("{port}", str(self.port)) for part in self.command]

    def env(self) -> dict[str, str]:
        """No extra environment."""
        return {}

    @property
    def base_url(self) -> str:
        """Where it answers."""
        return f"http://127.0.0.1:{self.port}"


SIM = [sys.executable, "-m", "servers.sim", "--port", "{port}"]


def test_launched_servers_report_load_time_and_memory_then_stop(tmp_path: Path) -> None:
    started: list[str] = []
    with launched(
        [("a", FakeLaunch(SIM)), ("b", FakeLaunch(SIM))], tmp_path, timeout_s=60, on_start=started.append
    ) as servers:
        assert started == ["a", "b"]
        for server in servers:
            assert 0 < server.load_time_s < 60
            assert httpx.get(server.base_url + "/health").status_code == 200
            assert listening_pid(server.base_url) == server.pid
            rss = tree_rss_bytes(server.pid)
            assert rss is not None and rss > 10 * 2**20
    assert all(server.process.poll() is not None for server in servers)


def test_a_server_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    dying = FakeLaunch([sys.executable, "-c", "print('model not found: /nowhere'); raise SystemExit(3)"])
    with pytest.raises(ConfigError, match=r"(?s)broken exited with status 3.*model not found: /nowhere"):
        with launched([("broken", dying)], tmp_path, timeout_s=60):
            pass


def test_a_failed_second_start_stops_the_first(tmp_path: Path) -> None:
    first = FakeLaunch(SIM)
    with pytest.raises(ConfigError):
        with launched(
            [("ok", first), ("broken", FakeLaunch([sys.executable, "-c", "raise SystemExit(1)"]))],
            tmp_path,
            timeout_s=60,
        ):
            pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(first.base_url + "/health")


def test_launched_servers_report_the_time_to_their_first_token(tmp_path: Path) -> None:
    slow_first_token = FakeLaunch([*SIM, "--ttft-ms", "400"])
    with launched([("slow", slow_first_token)], tmp_path, timeout_s=60) as (server,):
        assert server.first_token_error is None
        assert server.first_token_s is not None
        assert server.first_token_s >= server.load_time_s + 0.4


def test_a_failed_first_token_request_is_recorded_not_raised(tmp_path: Path) -> None:
    failing = FakeLaunch([*SIM, "--fault", "http_500"])
    with launched([("broken", failing)], tmp_path, timeout_s=60) as (server,):
        assert server.first_token_s is None
        assert server.first_token_error is not None and server.load_time_s > 0
