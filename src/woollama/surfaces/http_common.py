"""Request parsing and error responses shared by the HTTP surfaces."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from woollama.errors import BadRequest, WoollamaError, error_body

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024  # images as data URLs make legitimately large bodies


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise BadRequest(f"request body is larger than {MAX_BODY // (1024 * 1024)} MiB")
    raw = await request.body()
    if not raw:
        raise BadRequest("request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(body).__name__}")
    return body


def error_response(exc: WoollamaError) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=headers)


async def on_woollama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WoollamaError)
    if exc.status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc.message)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = {404: "not_found_error", 405: "invalid_request_error"}.get(exc.status_code, "error")
    message = {
        404: f"no route {request.url.path}; see /v1/models, /v1/chat/completions, /v1/tools",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return JSONResponse(error_body(message, kind), status_code=exc.status_code, headers=exc.headers)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # A bug, not a client error; still answered in the OpenAI shape, and logged in full.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        error_body(f"internal error: {type(exc).__name__}; see woollama's log", "server_error"),
        status_code=500,
    )


EXCEPTION_HANDLERS = {
    WoollamaError: on_woollama_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
