"""OpenAI-style errors, shaped as vLLM sends them: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    413: "RequestEntityTooLargeError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class APIError(Exception):
    """An error to answer with an OpenAI-style body and `status`."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def bad_request(message: str, param: str | None = None) -> APIError:
    """A 400 error about the request body."""
    return APIError(400, message, param)


def error_payload(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """The JSON body of an error answered with `status`."""
    err_type = _TYPES.get(status) or HTTPStatus(status).phrase.replace(" ", "") + "Error"
    return {"error": {"message": message, "type": err_type, "param": param, "code": status}}


def error_response(error: APIError) -> Response:
    """The HTTP response for `error`."""
    body = json.dumps(error_payload(error.status, error.message, error.param))
    return Response(body, status_code=error.status, media_type="application/json")
