"""Errors on the Messages routes, in Anthropic's shape and with Anthropic's statuses.

Anthropic's SDKs pick the exception class from the status and read the type from
`{"type": "error", "error": {"type", "message"}}`; an OpenAI-shaped body there would
surface as an unhelpful generic error in Claude Code.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

from starlette.responses import Response

from woollama.errors import UpstreamError, WoollamaError

OVERLOADED = 529  # Anthropic's own status for a busy backend; not an HTTP standard code

_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    OVERLOADED: "overloaded_error",
}


class ErrorDetail(TypedDict):
    type: str
    message: str


class ErrorBody(TypedDict):
    type: Literal["error"]
    error: ErrorDetail


def anthropic_status(status: int) -> int:
    """Our status as Anthropic would send it: a busy backend is 529, not 503."""
    return OVERLOADED if status == 503 else status


def error_type(status: int) -> str:
    status = anthropic_status(status)
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(exc: WoollamaError) -> ErrorBody:
    return {"type": "error", "error": {"type": error_type(exc.status), "message": exc.message}}


def error_response(exc: WoollamaError) -> Response:
    body = json.dumps(error_body(exc)).encode()
    # A backend's back-off headers go with its error, so the SDK waits as asked.
    headers: dict[str, Any] = dict(exc.headers) if isinstance(exc, UpstreamError) else {}
    if exc.status == 401:
        headers["www-authenticate"] = "x-api-key"
    return Response(
        body, status_code=anthropic_status(exc.status), media_type="application/json",
        headers=headers,
    )  # fmt: skip


def error_event(exc: WoollamaError) -> bytes:
    """The `error` event that ends a stream which failed after it started."""
    data = json.dumps(error_body(exc), separators=(",", ":"))
    return f"event: error\ndata: {data}\n\n".encode()
