"""The error classes a failed request can carry (docs/architecture.md) and the CLI's usage error.

A request-level failure never raises out of a client: it becomes one of these classes on the
`RequestRecord`, so a run goes on and the summary can count what happened.
"""

from __future__ import annotations

from typing import Final

CONNECT_ERROR: Final = "connect_error"
HTTP_4XX: Final = "http_4xx"
HTTP_5XX: Final = "http_5xx"
TIMEOUT: Final = "timeout"
STREAM_CUT: Final = "stream_cut"
MALFORMED_SSE: Final = "malformed_sse"
INBAND_ERROR: Final = "inband_error"
NO_TOKENS: Final = "no_tokens"
CANCELLED: Final = "cancelled"

ERROR_CLASSES: Final = (
    CONNECT_ERROR,
    HTTP_4XX,
    HTTP_5XX,
    TIMEOUT,
    STREAM_CUT,
    MALFORMED_SSE,
    INBAND_ERROR,
    NO_TOKENS,
    CANCELLED,
)


def http_error_class(status: int) -> str:
    """The error class of an HTTP status of 400 or more."""
    return HTTP_4XX if status < 500 else HTTP_5XX


class ConfigError(ValueError):
    """A bad run setting; the CLI prints its message as one line."""
