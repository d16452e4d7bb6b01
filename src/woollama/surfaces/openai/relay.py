"""Relaying a backend's answer to the client as it arrives."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from woollama.errors import BackendError, WoollamaError
from woollama.providers import Upstream, upstream_error
from woollama.providers.openai_wire import sse

log = logging.getLogger(__name__)

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def relay(
    upstream: Upstream, provider: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Send an open upstream answer to the client.

    Errors are raised (so they are answered in the OpenAI shape with the backend's
    status) before anything is sent. Event streams are forwarded byte for byte
    without parsing; a JSON answer goes out as it came, in one piece.
    """
    if upstream.status >= 400:
        try:
            raw = await upstream.read()
        finally:
            await upstream.aclose()
        raise upstream_error(upstream.status, raw, provider)
    if upstream.content_type.startswith("text/event-stream"):
        response = StreamingResponse(
            _forward(upstream, provider), media_type="text/event-stream", headers=_SSE_HEADERS
        )
        await response(scope, receive, send)
        return
    try:
        raw = await upstream.read()
    finally:
        await upstream.aclose()
    if "json" not in upstream.content_type:
        raise BackendError(
            f"provider {provider!r} answered {upstream.content_type or 'no content type'} "
            "where JSON was expected"
        )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _forward(upstream: Upstream, provider: str) -> AsyncIterator[bytes]:
    # Cancelled when the client disconnects; `finally` then closes the backend request.
    try:
        async for chunk in upstream.iter_bytes():
            yield chunk
    except WoollamaError as exc:
        log.warning("stream from %s broke: %s", provider, exc.message)
        # The SDKs raise on an `error` member in a data event, so the client sees
        # the failure instead of waiting for a [DONE] that will never come.
        # A blank line first ends any event the backend left half-written.
        yield b"\n\n" + sse(exc.to_body())
    finally:
        await upstream.aclose()
