"""`BatchCollector.collect` against a stand-in `/batches` endpoint: a batch the server has started but
not yet logged (its record follows the batch's last events) is waited for, not counted with the next
level."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from loadgen.compare.server_batches import BatchCollector
from loadgen.run_config import Target


def _record(batch_id: int, rows: int) -> dict[str, Any]:
    return {"batch_id": batch_id, "rows": rows, "fill": rows / 8, "padding_fraction": 0.0, "failed": None}


class StubBatches:
    """Serves `/batches`: batch 2 is started at once but logged only from the `log_after`-th request on."""

    def __init__(self, log_after: int) -> None:
        self.log_after = log_after
        self.requests = 0

    def payload(self, after: int) -> dict[str, Any]:
        self.requests += 1
        logged = [_record(1, 8)] + ([_record(2, 8)] if self.requests >= self.log_after else [])
        return {
            "max_batch_size": 8,
            "batches_started": 2,
            "batches": [r for r in logged if r["batch_id"] > after],
        }


@pytest.fixture
def stub_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, StubBatches]]:
    stub = StubBatches(log_after=request.param)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            after = int(parse_qs(urlparse(self.path).query).get("after", ["0"])[0])
            body = json.dumps(stub.payload(after)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stub
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("stub_url", [3], indirect=True)
def test_a_started_batch_whose_record_is_late_is_waited_for(
    stub_url: tuple[str, StubBatches], tmp_path: Path
) -> None:
    url, stub = stub_url
    collector = BatchCollector([Target("hf", url, "m")], tmp_path)
    digest = collector.collect("hf", "concurrency=16")
    assert digest is not None and digest["batches"] == 2  # both batches belong to this level
    assert stub.requests >= 3
    saved = json.loads(next(tmp_path.glob("batches-01-hf-*.json")).read_text())
    assert [b["batch_id"] for b in saved["batches"]] == [1, 2]
    assert collector.collect("hf", "next")["batches"] == 0  # type: ignore[index]


@pytest.mark.parametrize("stub_url", [1], indirect=True)
def test_with_every_started_batch_logged_collect_does_not_wait(
    stub_url: tuple[str, StubBatches], tmp_path: Path
) -> None:
    url, stub = stub_url
    started = time.monotonic()
    digest = BatchCollector([Target("hf", url, "m")], tmp_path).collect("hf", "concurrency=16")
    assert digest is not None and digest["batches"] == 2
    assert stub.requests == 1
    assert time.monotonic() - started < 1.0
