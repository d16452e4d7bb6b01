"""Relaying a backend's answer to the client as it arrives.

The answer is awaited under a watch for the client leaving (which cancels the
backend's work), its errors go out with the backend's back-off headers, a whole
answer only once it is known to be JSON, and a stream byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from woollama.errors import BackendError, WoollamaError
from woollama.providers import Provider, Upstream, upstream_error
from woollama.providers.openai_wire import sse
from woollama.surfaces.disconnect import unless_gone

log = logging.getLogger(__name__)

_SSE_HEAD = (
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
)


@dataclass(frozen=True)
class Fetched:
    """A backend's answer as far as it is read before relaying: a stream still open
    (`raw` is None), or anything else read whole and closed."""

    upstream: Upstream
    raw: bytes | None


async def fetch(provider: Provider, endpoint: str, body: dict[str, Any]) -> Fetched:
    """Send the request and read the answer unless it is a stream.

    Meant to run under `unless_gone`: cancelled, it cancels the backend's work too,
    because aiohttp closes the connection of a request it did not finish.
    """
    upstream = await provider.open(endpoint, body)
    if upstream.status < 400 and upstream.content_type.startswith("text/event-stream"):
        return Fetched(upstream, None)
    try:
        raw = await upstream.read()
    finally:
        await upstream.aclose()
    return Fetched(upstream, raw)


async def relay(
    fetched: Fetched, provider: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Send a fetched answer to the client.

    Errors are raised (so they are answered in the OpenAI shape with the backend's
    status) before anything is sent. Event streams are forwarded byte for byte
    without parsing; a JSON answer goes out as it came, in one piece, once it is
    known to be JSON.
    """
    upstream, raw = fetched.upstream, fetched.raw
    if upstream.status >= 400:
        raise upstream_error(upstream.status, raw or b"", provider, upstream.headers)
    if raw is None:
        await _stream(upstream, provider, receive, send)
        return
    if "json" not in upstream.content_type:
        raise BackendError(
            f"provider {provider!r} answered {upstream.content_type or 'no content type'} "
            "where JSON was expected"
        )
    if not is_json(raw):
        raise BackendError(
            f"provider {provider!r} answered a body labelled {upstream.content_type} that is "
            f"not JSON: {raw[:120].decode('utf-8', 'replace')!r}"
        )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    # A success carries headers only when routing adds one (the alias target it took).
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in upstream.headers.items())
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _stream(upstream: Upstream, provider: str, receive: Receive, send: Send) -> None:
    """The stream as it arrives, until its end or the client's leaving.

    Not Starlette's StreamingResponse: on uvicorn it watches for the client leaving
    with an anyio task group per stream, a cost every one of a thousand streams
    starting together pays before its first event (bench/streams.py). The same
    watch as the answer's wait (`unless_gone`) does it for a timer, or one task.
    """
    headers = [*_SSE_HEAD, *((k.encode("latin-1"), v.encode("latin-1"))
                             for k, v in upstream.headers.items())]  # fmt: skip
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    if await unless_gone(receive, _send_all(upstream, provider, send)) is not None:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_all(upstream: Upstream, provider: str, send: Send) -> bool:
    # Cancelled when the client leaves; closing the generator closes the backend's
    # request.
    async with contextlib.aclosing(_forward(upstream, provider)) as chunks:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    return True


def is_json(raw: bytes) -> bool:
    """Whether `raw` is one JSON document that a client's JSON parser will take.

    On every non-streamed answer, so it must be cheap, and nothing short of a full
    parse can tell (one bad byte anywhere spoils a document): orjson parses a 1 KiB
    completion in about a third of the time `json.loads` needs (docs/benchmarks.md).
    """
    try:
        orjson.loads(raw)
        return True
    except orjson.JSONDecodeError:
        pass
    # orjson holds to RFC 8259; Python's json also reads NaN, Infinity and numbers
    # past a double's range, which some backends write (in logprobs, say) and which
    # the clients they already serve accept. Only what both refuse is refused.
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


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
