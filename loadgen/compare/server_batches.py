"""The batches a naive-batching server actually formed at each level, from its own `/batches` record.

A throughput figure alone cannot tell batching policy (how full the batches were, how much padding
they carried) from per-step cost (how long each decoding step took). The HF server keeps a record of
every batch (`servers/hf/batch_log.py`); after each sweep level and each fixed batch the comparison
asks each target for the batches it ran since the last look, saves them as
`batches-NN-<target>-<label>.json` and adds a digest to the level's summary (`server_batches`). A
target without `/batches` (vLLM) is asked once and then left alone.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadgen.run_config import Target

TIMEOUT_S = 5.0
MIN_SPREAD_STEPS = 32
"""A batch's median step time counts toward `step_spread` only over at least this many steps."""
MIN_SPREAD_BATCHES = 3
PENDING_WAIT_S = 2.0
"""How long `collect` waits for the record of a batch the server has started but not yet logged."""


def digest(batches: Sequence[Mapping[str, Any]], max_batch_size: int | None) -> dict[str, Any]:
    """Counts, sizes, fill, padding and decode ms/step of `batches` (the batch records of one level)."""
    if not batches:
        return {"batches": 0}
    rows = [int(b["rows"]) for b in batches]
    steps_ms = [float(b["decode_step_s_median"]) * 1e3 for b in batches if b.get("decode_step_s_median")]
    worst_ms = [float(b["decode_step_s_max"]) * 1e3 for b in batches if b.get("decode_step_s_max")]
    return {
        "batches": len(batches),
        "max_batch_size": max_batch_size,
        "rows_mean": statistics.fmean(rows),
        "rows_max": max(rows),
        "rows_min": min(rows),
        "fill_mean": statistics.fmean(float(b["fill"]) for b in batches),
        "padding_mean": statistics.fmean(float(b["padding_fraction"]) for b in batches),
        "decode_step_ms_p50": statistics.median(steps_ms) if steps_ms else None,
        "decode_step_ms_max": max(worst_ms) if worst_ms else None,
        "generate_s_total": sum(float(b.get("duration_s") or 0.0) for b in batches),
        "failed": sum(1 for b in batches if b.get("failed")),
        "decode_step_spread": step_spread(batches),
        "row_step_yield": row_step_yield(batches),
    }


def row_step_yield(batches: Sequence[Mapping[str, Any]]) -> float | None:
    """The share of `batches`' row-steps (rows x decoding steps) that made a token: output tokens over
    row-steps. A static batch runs as long as its longest row, so the rest of its rows idle in
    place; the host's speed does not enter this share, only the batches' lengths do. None when a
    record lacks `tokens` (servers before it was recorded) or the batches ran no step."""
    if any(not isinstance(b.get("tokens"), int) for b in batches):
        return None
    row_steps = sum(int(b["rows"]) * int(b["steps"]) for b in batches)
    return sum(int(b["tokens"]) for b in batches) / row_steps if row_steps else None


def step_spread(batches: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """How far apart the per-batch median decode step times (ms) of comparable batches lie: those at
    the most common row count with at least `MIN_SPREAD_STEPS` steps (`rows`, `batches`, `min_ms`,
    `max_ms`, `median_ms`, and `slow_share`: the share of their decode time that the batches slower
    than the median one spent beyond its step). None with fewer than `MIN_SPREAD_BATCHES` of them.
    At one row count a host-bound server's step costs the same Python and kernel launches every time,
    so a wide spread there is the host's speed moving, and `slow_share` is about how much shorter the
    level's decoding would have been had the host held its typical speed throughout."""
    same = comparable_batches(batches)
    if len(same) < MIN_SPREAD_BATCHES:
        return None
    steps_ms = [float(b["decode_step_s_median"]) * 1e3 for b in same]
    typical = statistics.median(steps_ms)
    weights = [int(b["steps"]) for b in same]
    decode_ms = sum(n * ms for n, ms in zip(weights, steps_ms, strict=True))
    excess_ms = sum(n * max(0.0, ms - typical) for n, ms in zip(weights, steps_ms, strict=True))
    return {
        "rows": int(same[0]["rows"]),
        "batches": len(same),
        "min_ms": min(steps_ms),
        "max_ms": max(steps_ms),
        "median_ms": typical,
        "slow_share": excess_ms / decode_ms,
    }


def comparable_batches(batches: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The batches whose median step times compare: those at the most common row count with a
    median step over at least `MIN_SPREAD_STEPS` steps, in their order."""
    timed = [
        b for b in batches if b.get("decode_step_s_median") and int(b.get("steps") or 0) >= MIN_SPREAD_STEPS
    ]
    if not timed:
        return []
    rows = Counter(int(b["rows"]) for b in timed).most_common(1)[0][0]
    return [b for b in timed if int(b["rows"]) == rows]


def read_batch_file(path: Path) -> list[dict[str, Any]]:
    """The batch records in a saved `batches-NN-<target>-<label>.json` or a `/batches` answer;
    ValueError naming the file when it cannot be read or holds no `batches` list."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    batches = saved.get("batches") if isinstance(saved, dict) else None
    if not isinstance(batches, list):
        raise ValueError(f"{path}: no 'batches' list (a /batches answer or a batches-*.json file)")
    return [b for b in batches if isinstance(b, dict)]


def saved_step_spread(run_dir: Path, target: str, label: str) -> dict[str, Any] | None:
    """`step_spread` of the batches a saved run's `target` ran at level `label`, read from its
    `batches-NN-<target>-<label>.json` files (runs saved before the digest carried it)."""
    batches: list[dict[str, Any]] = []
    for path in sorted(run_dir.glob(f"batches-*-{_slug(target)}-{_slug(label)}.json")):
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(saved, dict) and saved.get("target") == target and saved.get("label") == label:
            batches += [b for b in saved.get("batches") or [] if isinstance(b, dict)]
    return step_spread(batches)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)


class BatchCollector:
    """Fetches and saves each target's new batch records; never raises on a server that cannot say."""

    def __init__(self, targets: Sequence[Target], run_dir: Path) -> None:
        self._targets = {t.name: t for t in targets}
        self._run_dir = run_dir
        self._seen: dict[str, int] = {}
        self._unsupported: set[str] = set()
        self._files = 0

    def _fetch(self, target: Target) -> dict[str, Any] | None:
        root = target.base_url.rstrip("/").removesuffix("/v1")
        url = f"{root}/batches?after={self._seen.get(target.name, 0)}"
        request = urllib.request.Request(url)
        if target.api_key:
            request.add_header("Authorization", f"Bearer {target.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                self._unsupported.add(target.name)
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("batches"), list):
            self._unsupported.add(target.name)
            return None
        return data

    def _pending(self, target_name: str, data: Mapping[str, Any]) -> bool:
        """True while the server says it started a batch whose record `data` does not hold yet."""
        started = data.get("batches_started")
        logged = max([int(b["batch_id"]) for b in data["batches"]], default=self._seen.get(target_name, 0))
        return isinstance(started, int) and started > logged

    def collect(self, target_name: str, label: str) -> dict[str, Any] | None:
        """The digest of the batches `target_name` ran since the last call (saved to a file), or None."""
        target = self._targets.get(target_name)
        if target is None or target_name in self._unsupported:
            return None
        data = self._fetch(target)
        deadline = time.monotonic() + PENDING_WAIT_S
        while data is not None and self._pending(target_name, data) and time.monotonic() < deadline:
            # The level's last response can reach the client a moment before its batch's record is
            # logged (the record follows the batch's last events); without the wait that batch
            # would be counted with the next level.
            time.sleep(0.02)
            data = self._fetch(target)
        if data is None:
            return None
        batches: list[dict[str, Any]] = data["batches"]
        if batches:
            self._seen[target_name] = max(int(b["batch_id"]) for b in batches)
        self._files += 1
        path = self._run_dir / f"batches-{self._files:02d}-{_slug(target_name)}-{_slug(label)}.json"
        path.write_text(json.dumps({"target": target_name, "label": label, **data}, indent=1))
        return digest(batches, data.get("max_batch_size"))
