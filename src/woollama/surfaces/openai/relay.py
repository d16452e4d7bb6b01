"""Relaying a backend's answer to the client as it arrives.

The answer is awaited under a watch for the client leaving (which cancels the
backend's work), its errors go out with the backend's back-off headers, a whole
answer only once it is known to be JSON, and a stream byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from woollama.errors import BackendError, WoollamaError
from woollama.providers import Provider, Upstream, upstream_error
from woollama.providers.openai_wire import sse

log = logging.getLogger(__name__)

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

T = TypeVar("T")


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


async def unless_gone(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None once the client hangs up (`work` is then cancelled).

    The same race as `surfaces.http.unless_disconnected`, made for the hot path:
    `work` runs in the calling task and only the watch on `receive` gets one of its
    own, where an anyio task group costs about 40 µs a request (bench/relay_costs.py).
    Call it once the body is read, so `receive` has nothing left but the disconnect.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = asyncio.Event()
    watcher = asyncio.get_running_loop().create_task(_watch(receive, task, gone))
    try:
        return await work
    except asyncio.CancelledError:
        # Ours alone (no one else cancelled the request too): the client left.
        if gone.is_set() and task.uncancel() == 0:
            return None
        raise
    finally:
        watcher.cancel()


async def _watch(receive: Receive, task: asyncio.Task[Any], gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    task.cancel()


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
        headers = {**_SSE_HEADERS, **upstream.headers} if upstream.headers else _SSE_HEADERS
        response = StreamingResponse(
            _forward(upstream, provider), media_type="text/event-stream", headers=headers
        )
        await response(scope, receive, send)
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
