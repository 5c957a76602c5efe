"""`OpenAIStreamUser`: a locust user that sends streamed completion or chat requests, back to back.

Each user holds one keep-alive connection (opened in `on_start`, before its first timed request)
and loops without waiting, so N users keep N requests in flight: a closed loop at concurrency N,
the load `loadgen` calls `concurrency=N`. Request `i` of a process uses prompt `i % len(prompts)`.
Every request gets a `RequestRecord` (the load generator's definitions of TTFT, ITL, TPOT and E2E),
which goes to the process's `NodeState` (metrics, results) and to locust's statistics.
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any
from uuid import uuid4

from gevent import GreenletExit
from locust import User, constant, task
from locust.exception import StopUser

from loadgen import errors
from loadgen.locust.entries import fire_request_entries
from loadgen.locust.node import node_of
from loadgen.locust.transport import GeventStreamClient
from loadgen.record import RequestRecord


class OpenAIStreamUser(User):
    """Streams completions (or chat completions) from the locust host, one request after another."""

    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._node = node_of(environment)
        self._client: GeventStreamClient | None = None
        self._name = ""

    def on_start(self) -> None:
        """Open this user's connection before its first request is timed."""
        settings = self._node.settings
        if settings is None or not self._node.prompts:
            raise StopUser()  # the test's settings were rejected; the plugin logged why
        self._client = GeventStreamClient(settings.target, settings.options)
        self._name = settings.target.endpoint_path(settings.options.api)
        self._client.preopen()

    @task
    def generate(self) -> None:
        """Send one streamed request and report it."""
        node, client, settings = self._node, self._client, self._node.settings
        if client is None or settings is None:
            raise StopUser()
        index = node.next_index()
        prompt = node.prompts[index % len(node.prompts)]
        record = RequestRecord(
            request_id=uuid4().hex,
            target=settings.target.name,
            index=index,
            api=settings.options.api,
            stream=True,
            send_ns=0,
            level=node.level,
            warmup=node.warmup,
            expected_prompt_tokens=prompt.prompt_tokens,
            max_tokens=prompt.output_tokens
            if prompt.output_tokens is not None
            else settings.options.max_tokens,
            n=settings.options.n,
        )
        try:
            client.send(prompt, record)
        except GreenletExit:
            if record.error_class is None:  # stopped before the client could classify it
                record.end_ns = perf_counter_ns()
                record.send_ns = record.send_ns or record.end_ns
                record.error_class, record.error_message = errors.CANCELLED, "the user was stopped"
            node.finished(record)  # cancelled: kept in the results, not a locust failure
            raise
        node.finished(record)
        fire_request_entries(self.environment.events, record, self._name)

    def on_stop(self) -> None:
        """Close the connection."""
        if self._client is not None:
            self._client.close()
