"""The GPU's own state during each level: `nvidia-smi` sampled in the background, summed up per level.

A GPU comparison can end up measuring the host instead of the GPU. When a server's Python, its kernel
launches or its streaming cannot keep the GPU fed, the GPU sits idle between kernels, and the
figures follow the host CPU's speed (on a shared VM they drift with it from run to run). On an H100
VM, a 1B model at 128 in / 128 out kept the GPU 21-39% busy under the HF server and 19-64% under
vLLM (docs/results/gpu-h100-2026-12-05d-burst-gap): there, a ratio compares two servers' host code.

nvidia-smi's `utilization.gpu` is the share of its sample period in which a kernel was running.
`GpuMonitor` runs `nvidia-smi --query-gpu=... -lms INTERVAL` under a pseudo-terminal (so it writes
each sample as it takes it instead of in blocks), stamps each line with `perf_counter_ns` as it is
read (the clock of the request records), appends every sample to `gpu-state.jsonl` in the run
directory, and `level_done` returns a level's figures per GPU: mean busy share, SM clock range,
power, memory. A level is marked host-bound when its busiest GPU was busy less than
`HOST_BOUND_BUSY_PCT` of the time.
"""

from __future__ import annotations

import math
import os
import pty
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from loadgen.record import RequestRecord, records_window

GPU_STATE_FILE = "gpu-state.jsonl"
QUERY = "index,utilization.gpu,clocks.sm,power.draw,memory.used"
DEFAULT_INTERVAL_MS = 200
HOST_BOUND_BUSY_PCT = 50.0
"""Below this mean busy share, the GPU waited on the host more than it computed."""
MIN_SAMPLES = 3
"""Fewer samples than this in a level's window: too short to judge (host_bound is None)."""
STOP_TIMEOUT_S = 5.0


class GpuMonitorError(RuntimeError):
    """nvidia-smi could not be started."""


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU's state at one sample."""

    t_ns: int
    gpu: int
    busy_pct: float
    sm_mhz: float | None
    power_w: float | None
    memory_mib: float | None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"
    return value if math.isfinite(value) else None


def parse_line(line: str, t_ns: int) -> GpuSample | None:
    """A sample from one line of `nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits` (else None)."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 5:
        return None
    index, busy = _number(fields[0]), _number(fields[1])
    if index is None or busy is None:
        return None
    return GpuSample(t_ns, int(index), busy, _number(fields[2]), _number(fields[3]), _number(fields[4]))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(samples: Sequence[GpuSample], start_ns: int, end_ns: int) -> dict[str, Any] | None:
    """The window's figures per GPU and its verdict; None when no sample falls in it."""
    inside = [s for s in samples if start_ns <= s.t_ns <= end_ns]
    if not inside:
        return None
    gpus: list[dict[str, Any]] = []
    for index in sorted({s.gpu for s in inside}):
        mine = [s for s in inside if s.gpu == index]
        clocks = [s.sm_mhz for s in mine if s.sm_mhz is not None]
        memory = [s.memory_mib for s in mine if s.memory_mib is not None]
        gpus.append(
            {
                "gpu": index,
                "samples": len(mine),
                "busy_pct": sum(s.busy_pct for s in mine) / len(mine),
                "sm_mhz_min": min(clocks, default=None),
                "sm_mhz_mean": _mean(clocks),
                "power_w": _mean(s.power_w for s in mine),
                "memory_mib_max": max(memory, default=None),
            }
        )
    busiest = max(gpus, key=lambda g: float(g["busy_pct"]))
    enough = busiest["samples"] >= MIN_SAMPLES
    return {
        "seconds": (end_ns - start_ns) / 1e9,
        "busy_pct": busiest["busy_pct"],
        "gpu": busiest["gpu"],
        "host_bound": (busiest["busy_pct"] < HOST_BOUND_BUSY_PCT) if enough else None,
        "threshold_pct": HOST_BOUND_BUSY_PCT,
        "gpus": gpus,
    }


def busiest_gpu(view: dict[str, Any] | None) -> dict[str, Any]:
    """The per-GPU figures of the GPU a view's verdict is about ({} without a view)."""
    if not view:
        return {}
    return next((g for g in view.get("gpus") or [] if g.get("gpu") == view.get("gpu")), {})


def verdict(view: dict[str, Any] | None) -> str:
    """`HOST-BOUND`, `ok`, or `too short to tell` (fewer than MIN_SAMPLES samples, or none)."""
    return {True: "HOST-BOUND", False: "ok", None: "too short to tell"}[(view or {}).get("host_bound")]


def gpu_note(view: dict[str, Any] | None) -> str:
    """`, GPU busy 27% (host-bound)` for a console line; empty without a view."""
    if not view or view.get("busy_pct") is None:
        return ""
    return f", GPU busy {view['busy_pct']:.0f}%" + (" (host-bound)" if view.get("host_bound") else "")


def available(command: str = "nvidia-smi") -> bool:
    """Whether `command` is on PATH."""
    return shutil.which(command) is not None


class GpuMonitor:
    """nvidia-smi sampling every `interval_ms` in the background, kept in memory and in `path`."""

    def __init__(
        self, path: Path, interval_ms: int = DEFAULT_INTERVAL_MS, command: str = "nvidia-smi"
    ) -> None:
        self.path = path
        self.interval_ms = interval_ms
        self.command = command
        self._samples: list[GpuSample] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._master: int | None = None
        self._first = threading.Event()

    def start(self) -> None:
        """Start nvidia-smi and the reader thread; GpuMonitorError when it cannot run."""
        executable = shutil.which(self.command)
        if executable is None:
            raise GpuMonitorError(f"{self.command} is not on PATH")
        argv = [executable, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]
        argv += ["-lms", str(self.interval_ms)]
        master, slave = pty.openpty()
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            os.close(master)
            raise GpuMonitorError(f"{self.command}: {exc}") from exc
        finally:
            os.close(slave)
        self._master = master
        self._thread = threading.Thread(target=self._read, args=(master,), name="gpu-monitor", daemon=True)
        self._thread.start()

    def _read(self, master: int) -> None:
        pending = b""
        with self.path.open("ab") as out:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break  # EIO: nvidia-smi exited and the terminal closed
                if not chunk:
                    break
                stamp = time.perf_counter_ns()
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    sample = parse_line(line.decode(errors="replace").strip(), stamp)
                    if sample is None:
                        continue
                    with self._lock:
                        self._samples.append(sample)
                    self._first.set()
                    try:
                        out.write(orjson.dumps(asdict(sample), option=orjson.OPT_APPEND_NEWLINE))
                        out.flush()
                    except OSError:
                        pass  # a side record: a full disk stops the run through requests.jsonl

    def wait_first(self, timeout_s: float) -> bool:
        """Wait until the first sample has arrived (nvidia-smi takes a moment to start); False on timeout."""
        return self._first.wait(timeout_s)

    def samples(self) -> list[GpuSample]:
        """The samples read so far."""
        with self._lock:
            return list(self._samples)

    def level_done(self, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        """The GPU figures over a level's window (None: nothing sent, or no sample in it)."""
        window = records_window(records)
        return None if window is None else summarize(self.samples(), *window)

    def close(self) -> None:
        """Stop nvidia-smi and the reader."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
        if self._master is not None:
            os.close(self._master)
            self._master = None
