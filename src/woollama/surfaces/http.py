"""Request parsing and error responses shared by the HTTP surfaces."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from woollama.errors import BadRequest, WoollamaError, error_body

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BODY = 64 * 1024 * 1024  # images as data URLs make legitimately large bodies


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise BadRequest(f"request body is larger than {MAX_BODY // (1024 * 1024)} MiB")
    return parse_object(await request.body())


def parse_object(raw: bytes) -> dict[str, Any]:
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


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Run `work` until it ends or the client hangs up (then cancel it, return None).

    Streaming responses get this from Starlette; a non-streaming request that
    runs a long recipe needs it so a client that gave up stops the backend too.
    """
    outcome: list[T] = []
    failure: list[Exception] = []

    async def run_work(scope: anyio.CancelScope) -> None:
        try:
            outcome.append(await work)
        except Exception as exc:  # re-raised below as itself, not inside an ExceptionGroup
            failure.append(exc)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_work, tg.cancel_scope)
        while (await request.receive())["type"] != "http.disconnect":
            pass
        tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None


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
