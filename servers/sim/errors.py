"""OpenAI-style error bodies (`{"error": {"message", "type", "param", "code"}}`), as vLLM sends them."""

from __future__ import annotations

import orjson

ERROR_TYPES: dict[int, str] = {
    400: "BadRequestError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "RequestEntityTooLargeError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class ApiError(Exception):
    """A request the server answers with an HTTP error and an OpenAI error body."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param

    def body(self) -> bytes:
        """The JSON error body."""
        return error_body(self.status, self.message, self.param)


def error_payload(status: int, message: str, param: str | None = None) -> dict[str, object]:
    """The error object for `status`, ready to be serialised."""
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "Error"),
            "param": param,
            "code": status,
        }
    }


def error_body(status: int, message: str, param: str | None = None) -> bytes:
    """`error_payload` serialised to JSON bytes."""
    return orjson.dumps(error_payload(status, message, param))
