"""Small helpers for the pure-ASGI middlewares."""

from __future__ import annotations

import json

from starlette.types import Scope, Send

from woollama.errors import WoollamaError
from woollama.observability.record import note_error
from woollama.surfaces.anthropic.errors import error_body as anthropic_error_body


def is_unix_socket(scope: Scope) -> bool:
    # uvicorn reports a Unix socket's local address as (path, None).
    server = scope.get("server")
    return bool(server) and server[1] is None


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def send_error(scope: Scope, send: Send, exc: WoollamaError) -> None:
    """Answer `exc` in the shape the route's clients read: Anthropic's on the
    Messages routes, OpenAI's everywhere else."""
    note_error(scope, exc)
    if str(scope.get("path", "")).startswith("/v1/messages"):
        body = json.dumps(anthropic_error_body(exc)).encode()
    else:
        body = json.dumps(exc.to_body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
