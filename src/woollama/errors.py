"""The one exception tree.

Every error woollama raises on purpose derives from `WoollamaError` and knows the
HTTP status and OpenAI error type it becomes at the HTTP boundary, so surfaces
translate errors in one place instead of guessing at each call site.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar


class WoollamaError(Exception):
    status: int = 500
    error_type: ClassVar[str] = "server_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.headers: dict[str, str] = {}  # sent with the error answer (e.g. Retry-After)

    def to_body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.code, self.param)


def error_body(
    message: str, error_type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The OpenAI error envelope."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


class ConfigError(WoollamaError):
    """A config file is missing a variable, malformed or invalid; raised at load time."""

    status = 500
    error_type = "config_error"


class BadRequest(WoollamaError):
    status = 400
    error_type = "invalid_request_error"


class Unauthorized(WoollamaError):
    status = 401
    error_type = "authentication_error"


class Forbidden(WoollamaError):
    status = 403
    error_type = "permission_error"


class NotFound(WoollamaError):
    status = 404
    error_type = "not_found_error"


class Conflict(WoollamaError):
    status = 409
    error_type = "conflict_error"


class Unsupported(WoollamaError):
    status = 501
    error_type = "not_implemented_error"


class BackendError(WoollamaError):
    """The backend refused, could not be reached, or answered with nonsense."""

    status = 502
    error_type = "backend_error"


class BackendBusy(WoollamaError):
    status = 503
    error_type = "backend_busy"


class BackendTimeout(WoollamaError):
    status = 504
    error_type = "backend_timeout"


class UpstreamError(WoollamaError):
    """A backend answered with an error of its own; relayed with its status and body,
    and with the headers that tell a client when to retry (`Retry-After`, rate limits)."""

    error_type = "upstream_error"

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        provider: str,
        headers: Mapping[str, str] | None = None,
    ):
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = str(err.get("message") or f"{provider} answered HTTP {status}")
        super().__init__(message, code=err.get("code"))
        self.status = status
        self.body = body
        self.provider = provider
        self.headers = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        return self.body


class ToolUnavailable(WoollamaError):
    """The MCP server behind a tool is down or reconnecting; fails fast, never waits."""

    status = 503
    error_type = "tool_unavailable"


class ToolTimeout(WoollamaError):
    status = 504
    error_type = "tool_timeout"


class ToolFailed(WoollamaError):
    """The MCP server answered the call with a protocol error."""

    status = 502
    error_type = "tool_error"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a misspelt name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
