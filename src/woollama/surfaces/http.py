"""Request parsing and error responses shared by the HTTP surfaces."""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

import anyio
import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from woollama.errors import BadRequest, WoollamaError, error_body
from woollama.observability.record import note_error

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BODY = 64 * 1024 * 1024  # images as data URLs make legitimately large bodies
# Far beyond any real request (JSON Schemas included), and far below what the
# encoders downstream survive: the MCP SDK's parser stops at 200 levels, Python's
# own json at the interpreter's recursion limit minus the stack in use.
MAX_DEPTH = 128

# A lone UTF-16 surrogate as a JSON escape: a high one not followed by a low one, or
# a low one not preceded by a high one. Every branch starts with the literal `\u`, so
# the search skips ahead at C speed. A match is only a hint (an escaped backslash
# before `u` looks the same), confirmed on the parsed body.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD])[c-fC-F])"
)


_CONTAINERS = frozenset({dict, list})


class BodyTooLarge(WoollamaError):
    status = 413
    error_type = "invalid_request_error"


class _NotJson(ValueError):
    """A token Python's json accepts but JSON (and every encoder after us) does not."""


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx that says what is wrong with it."""
    return parse_object(await read_body(request))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The whole body of `request` (see `read_asgi_body`)."""
    return await read_asgi_body(request.scope, request.receive, limit)


async def read_asgi_body(scope: Scope, receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The whole body, counted as it arrives: a chunked upload has no Content-Length
    to refuse it by, so the count is what keeps it from filling memory. No `Request`
    is built, so the hot pass-through routes call it directly."""
    declared = 0
    for key, value in scope["headers"]:
        if key == b"content-length":
            # uvicorn lets no malformed length through; the count below still holds
            declared = int(value) if value.isdigit() else 0
            break
    if declared > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise BadRequest("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"request body is larger than {limit // (1024 * 1024)} MiB", code="request_too_large"
    )


def parse_object(raw: bytes) -> dict[str, Any]:
    """Strict JSON: what passes here can be re-encoded by every layer after it.

    Python's json accepts NaN, Infinity, numbers that overflow to infinity and lone
    surrogates; each would fail later, in a response or an upstream request, as a
    500. The checks that need more than the parse itself run only when the raw
    bytes make them necessary, found by memchr-speed scans, so an ordinary body
    costs little more than the decode and the parse.

    orjson takes the body first, two to five times faster than Python's json
    (docs/benchmarks.md): it holds to RFC 8259, so it refuses all of the above
    itself, and whatever it refuses goes to Python's json, which says precisely what
    is wrong (or reads it: a number too long for a double but within the digit
    limit). An integer beyond 64 bits comes out of orjson as the nearest double,
    which RFC 8259 allows and no backend's API can tell from the exact value.
    """
    if not raw:
        raise BadRequest("request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = _parse_strictly(raw)
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(body).__name__}")
    if _openers_exceed(raw, MAX_DEPTH) and _deeper_than(body, MAX_DEPTH):
        raise _too_deep()
    return body


def _parse_strictly(raw: bytes) -> Any:
    """Python's json, refusing what JSON refuses, with a message that says why."""
    try:
        text = raw.decode("utf-8")  # strict: also refuses surrogates encoded as UTF-8
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: it is not UTF-8 ({exc})") from None
    try:
        body = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except _NotJson as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # only int() is left to raise it: too many digits
        raise BadRequest(
            f"request body has a number of more than {sys.get_int_max_str_digits()} digits"
        ) from None
    escape = raw.find(b"\\")  # a single byte is found at memchr speed; most bodies have none
    if escape != -1 and _LONE_SURROGATE.search(raw, escape):
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                "request body has a lone UTF-16 surrogate escape (\\ud800-\\udfff without "
                "its pair); it is not a character and cannot be sent on"
            ) from None
    return body


def _too_deep() -> BadRequest:
    return BadRequest(f"request body is nested too deeply (more than {MAX_DEPTH} levels)")


def _no_constant(name: str) -> NoReturn:
    raise _NotJson(f"{name} is not a JSON number; send a finite number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"{text[:40]} is too large for a 64-bit float")
    return value


def _openers_exceed(raw: bytes, limit: int) -> bool:
    """Whether `raw` has more than `limit` brackets and braces: a body nested deeper
    needs at least that many. Stops counting there; each step is a memchr."""
    seen = 0
    for opener in (b"[", b"{"):
        at = raw.find(opener)
        while at != -1:
            seen += 1
            if seen > limit:
                return True
            at = raw.find(opener, at + 1)
    return False


def _deeper_than(body: Any, limit: int) -> bool:
    # Iterative, so a body the parser survived cannot exhaust the stack here.
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if type(node) is dict:
            children = node.values()
        elif _CONTAINERS.isdisjoint(map(type, node)):
            continue  # a list of scalars (token ids, say), checked at C speed
        else:
            children = node
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


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
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["www-authenticate"] = "Bearer"
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=headers or None)


async def on_woollama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WoollamaError)
    note_error(request.scope, exc)
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


def unexpected_response(scope: Scope, exc: Exception) -> Response:
    where = f"{scope.get('method')} {scope.get('path')}"
    if isinstance(exc, RecursionError):
        # Only a structure the client sent is deep enough to get here.
        log.warning("%s: nesting too deep to process", where, exc_info=exc)
        too_deep = BadRequest("the request is nested too deeply to process")
        return error_response(too_deep)
    # A bug, not a client error; still answered in the OpenAI shape, and logged in full.
    log.error("unhandled error on %s", where, exc_info=exc)
    return JSONResponse(
        error_body(f"internal error: {type(exc).__name__}; see woollama's log", "server_error"),
        status_code=500,
    )


class AnswerUnexpected:
    """Answers an exception no handler knows, and keeps the connection open.

    Starlette's own last-resort handler answers and then re-raises, so that the
    server sees the failure; uvicorn then closes the connection, and the next
    request a pooled client sends on it fails too. This answers instead of
    re-raising. Only a response already half sent is left to fail (and uvicorn to
    close its connection): there is no way left to tell the client.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            await unexpected_response(scope, exc)(scope, receive, send)


EXCEPTION_HANDLERS = {
    WoollamaError: on_woollama_error,
    HTTPException: on_http_exception,
}
