"""Memory in use by a server: the resident set size of its whole process tree.

vLLM runs its engine in a child process (and the API server in the parent), so the process alone
under-counts; the tree is summed. A server given only by URL is found, when it runs on this host, as
the process listening on the URL's port.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import psutil


def process_tree(pid: int) -> list[psutil.Process] | None:
    """`pid` and all its descendants; None when the process is gone or hidden."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def tree_rss_bytes(pid: int) -> int | None:
    """RSS of `pid` and all its descendants, in bytes; None when the process is gone or hidden."""
    processes = process_tree(pid)
    if processes is None:
        return None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def listening_pid(base_url: str) -> int | None:
    """The pid of the local process listening on the URL's port (loopback URLs only), if visible."""
    parts = urlsplit(base_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


class PeakRss:
    """Samples a process tree's RSS in a background thread while a block runs; keeps the peak."""

    def __init__(self, pid: int | None, interval_s: float = 0.25) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        if self.pid is None:
            return
        rss = tree_rss_bytes(self.pid)
        if rss is not None and (self.peak is None or rss > self.peak):
            self.peak = rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._sample()
        if self.pid is not None:
            self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
