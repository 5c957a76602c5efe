"""The locust user's gevent HTTP client against the scripted server: exact stamps and error classes.

The client runs here on gevent's hub without locust (no monkey-patching: it uses gevent sockets
directly), one request at a time, so the stamps can be compared with the server's truth closely.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import gevent
import psutil
import pytest

from loadgen import errors
from loadgen.locust.transport import GeventStreamClient
from loadgen.record import RequestRecord
from loadgen.run_config import RequestOptions, Target, Timeouts
from loadgen.workloads.base import Prompt
from tests.fixtures.locust import SIM_MODEL
from tests.fixtures.procs import ServerProcess, free_port
from tests.fixtures.sim import SimFactory, truth_of

PROMPT = Prompt(text="Count to twelve.", output_tokens=12)


@pytest.fixture(scope="module")
def fault_sim(sim_server_factory: SimFactory) -> Iterator[ServerProcess]:
    """A scripted server whose stalls (no_tokens, slow_headers) last 0.6 s."""
    with sim_server_factory(ttft_ms=20, itl_ms=2, output_tokens=16, hang_s=0.6) as server:
        yield server


def client_for(
    server: ServerProcess, *, api: str = "chat", total_s: float = 10.0, headers: dict[str, str] | None = None
) -> GeventStreamClient:
    timeouts = Timeouts(connect_s=2.0, ttft_s=total_s, idle_s=total_s, total_s=total_s)
    options = RequestOptions(api=api, max_tokens=12, timeouts=timeouts)  # type: ignore[arg-type]
    return GeventStreamClient(Target("sim", server.base_url, SIM_MODEL), options, headers)


def new_record(api: str = "chat") -> RequestRecord:
    return RequestRecord(request_id=uuid4().hex, target="sim", index=0, api=api, stream=True, send_ns=0)


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_every_token_is_stamped_just_after_the_server_sent_it(sim_server: ServerProcess, api: str) -> None:
    client = client_for(sim_server, api=api)
    client.preopen()
    records = []
    for _ in range(3):
        record = new_record(api)
        client.send(PROMPT, record)
        records.append(record)
    client.close()
    for record in records:
        assert record.ok, record.error_message
        truth = truth_of(sim_server.base_url, record.request_id)
        assert truth is not None
        assert record.output_tokens == truth["output_tokens"] == 12 and record.tokens_source == "usage"
        assert len(record.content_ns) == len(truth["token_ns"])
        lags = [mine - sent for mine, sent in zip(record.content_ns, truth["token_ns"], strict=True)]
        assert min(lags) >= 0, "a token was stamped before the server sent it"
        assert sorted(lags)[len(lags) // 2] < 5_000_000, f"median stamp lag {lags} ns"
        assert record.send_ns <= truth["received_ns"] and record.end_ns is not None
        assert record.end_ns >= truth["token_ns"][-1]


def established_ports(server: ServerProcess) -> set[int]:
    """Local ports of this process's open connections to `server`."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == server.port and c.status == psutil.CONN_ESTABLISHED
    }


def test_requests_reuse_one_keep_alive_connection(sim_server: ServerProcess) -> None:
    client = client_for(sim_server)
    first, second = new_record(), new_record()
    client.send(PROMPT, first)
    after_first = established_ports(sim_server)
    client.send(PROMPT, second)
    after_second = established_ports(sim_server)
    client.close()
    assert first.ok and second.ok
    assert len(after_first) == 1 and after_second == after_first


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("http_500", errors.HTTP_5XX),
        ("http_429", errors.HTTP_4XX),
        ("http_400", errors.HTTP_4XX),
        ("inband_error", errors.INBAND_ERROR),
        ("malformed_sse", errors.MALFORMED_SSE),
        ("cut_stream", errors.STREAM_CUT),
        ("no_tokens", errors.STREAM_CUT),  # the scripted server stalls, then cuts the connection
    ],
)
def test_server_faults_become_their_error_class(
    fault_sim: ServerProcess, fault: str, error_class: str
) -> None:
    client = client_for(fault_sim, headers={"X-Sim-Fault": fault})
    record = new_record()
    client.send(PROMPT, record)
    client.close()
    assert record.error_class == error_class, (record.error_class, record.error_message)
    assert record.error_message
    assert record.end_ns is not None and record.end_ns >= record.send_ns


def test_a_stalled_response_fails_as_timeout(fault_sim: ServerProcess) -> None:
    client = client_for(fault_sim, total_s=0.2, headers={"X-Sim-Fault": "slow_headers"})
    record = new_record()
    client.send(PROMPT, record)
    client.close()
    assert record.error_class == errors.TIMEOUT, record.error_message
    assert record.error_message == "no complete response within 0.2 s"  # as the asyncio clients say
    assert record.end_ns is not None and 150_000_000 <= record.end_ns - record.send_ns < 550_000_000


def test_a_refused_connection_is_a_connect_error() -> None:
    server = ServerProcess(f"http://127.0.0.1:{free_port()}", 0, None, None)  # type: ignore[arg-type]
    client = client_for(server)
    record = new_record()
    client.send(PROMPT, record)
    assert record.error_class == errors.CONNECT_ERROR


def test_a_stopped_user_records_its_request_as_cancelled(fault_sim: ServerProcess) -> None:
    client = client_for(fault_sim, headers={"X-Sim-Fault": "slow_headers"})
    record = new_record()
    greenlet = gevent.spawn(client.send, PROMPT, record)
    gevent.sleep(0.1)
    greenlet.kill(block=True)
    assert isinstance(greenlet.value, gevent.GreenletExit)
    assert record.error_class == errors.CANCELLED
    client.close()


def test_the_request_leaves_in_the_same_bytes_as_from_the_asyncio_client(sim_server: ServerProcess) -> None:
    from loadgen.client.clients import Http1Client

    client = client_for(sim_server, headers={"X-Extra": "1"})
    target = Target("sim", sim_server.base_url, SIM_MODEL)
    options = RequestOptions(api="chat", max_tokens=12, timeouts=client._options.timeouts)
    fast = Http1Client(target, options).payload(PROMPT, "id-1")
    ours = client.payload(PROMPT, "id-1")
    client.close()
    assert ours == fast.replace(b"servebench-loadgen", b"servebench-locust").replace(
        b"\r\n\r\n", b"\r\nX-Extra: 1\r\n\r\n", 1
    )
