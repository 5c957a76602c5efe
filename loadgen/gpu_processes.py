"""Each server's GPU memory as the GPU counts it: nvidia-smi's per-process figure, summed over the
server's process tree.

`--gpu-memory-gib` holds each server to a budget by its own count: the HF server through PyTorch's
allocator cap, vLLM through its start-up account (`loadgen.compare.budget`). Neither count holds
everything the process occupies on the GPU: the CUDA context, library workspaces and memory
allocated outside PyTorch's caching allocator sit outside both. On an H100 with both servers at
24 GiB, vLLM's own account said 23.71 GiB while the GPU counted 25.8-27.2 GiB for its engine
process, and 24.3-24.6 GiB for the HF server's (docs/results/2026-12-07-seeds-qwen-24g). So "the
same memory" needs the GPU's count beside each server's own.

`GpuProcessMemory` asks `nvidia-smi --query-compute-apps=pid,used_memory` once a second in a
background thread, adds up the processes in each server's tree (vLLM's engine and the HF server's
generate loop run in child processes), appends every sample to `gpu-processes.jsonl` and keeps each
server's peak. nvidia-smi shows the pids of the host's PID namespace: a server in a container with
its own namespace is not found by its pid, and the run says so rather than guessing.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loadgen.compare.memory import process_tree

GPU_PROCESSES_FILE = "gpu-processes.jsonl"
QUERY = "--query-compute-apps=pid,used_memory"
DEFAULT_INTERVAL_S = 1.0
QUERY_TIMEOUT_S = 10.0


def parse_apps(text: str) -> dict[int, float]:
    """pid -> MiB from `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits`
    (a process listed on several GPUs is summed; lines it cannot read, e.g. `[N/A]`, are skipped)."""
    apps: dict[int, float] = {}
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            continue
        try:
            pid, mib = int(fields[0]), float(fields[1])
        except ValueError:
            continue
        apps[pid] = apps.get(pid, 0.0) + mib
    return apps


def tree_pids(pid: int) -> set[int]:
    """`pid` and its descendants (empty when the process is gone or hidden)."""
    return {process.pid for process in process_tree(pid) or []}


@dataclass
class ServerGpuMemory:
    """One server's GPU memory by the GPU's count over a run."""

    pid: int | None
    """The server's root process (None: not found on this host)."""
    peak_mib: float | None = None
    samples: int = 0
    """Samples in which at least one of its processes held GPU memory."""
    pids_seen: set[int] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        """For run.json."""
        return {
            "pid": self.pid,
            "peak_mib": self.peak_mib,
            "samples": self.samples,
            "pids_seen": sorted(self.pids_seen),
        }


class GpuProcessMemory:
    """Samples nvidia-smi's per-process memory every `interval_s` for the servers in `pids`."""

    def __init__(
        self,
        pids: Mapping[str, int | None],
        path: Path,
        interval_s: float = DEFAULT_INTERVAL_S,
        command: str = "nvidia-smi",
    ) -> None:
        self.path, self.interval_s, self.command = path, interval_s, command
        self.servers = {name: ServerGpuMemory(pid) for name, pid in pids.items()}
        self.queries = 0
        self.failed_queries = 0
        self.other_pids: set[int] = set()
        """Processes on the GPU in no server's tree (another tenant, or a namespace we cannot see into)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _query(self) -> dict[int, float] | None:
        try:
            done = subprocess.run(
                [self.command, QUERY, "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=QUERY_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_apps(done.stdout) if done.returncode == 0 else None

    def sample(self) -> None:
        """Take one sample now: every server's processes on the GPU, added up."""
        apps = self._query()
        with self._lock:
            self.queries += 1
            if apps is None:
                self.failed_queries += 1
                return
            seen: set[int] = set()
            per_server: dict[str, float] = {}
            for name, server in self.servers.items():
                tree = tree_pids(server.pid) if server.pid is not None else set()
                mine = set(apps) & tree
                seen |= mine
                if not mine:
                    continue
                total = sum(apps[pid] for pid in mine)
                per_server[name] = total
                server.samples += 1
                server.pids_seen |= mine
                server.peak_mib = total if server.peak_mib is None else max(server.peak_mib, total)
            self.other_pids |= set(apps) - seen
        line = {"time": time.time(), "apps": {str(p): m for p, m in apps.items()}, "servers": per_server}
        try:
            with self.path.open("ab") as out:
                out.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        except OSError:
            pass  # a side record: a full disk stops the run through requests.jsonl

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def start(self) -> None:
        """Take a first sample, then sample in the background."""
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="gpu-processes", daemon=True)
        self._thread.start()

    def close(self) -> dict[str, Any]:
        """Stop sampling (after one last sample) and return the run.json entry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=QUERY_TIMEOUT_S + self.interval_s)
            self.sample()
        with self._lock:
            return {
                "source": f"nvidia-smi {QUERY}",
                "interval_s": self.interval_s,
                "queries": self.queries,
                "failed_queries": self.failed_queries,
                "other_pids": sorted(self.other_pids),
                "servers": {name: server.to_dict() for name, server in self.servers.items()},
            }
