"""The pure-ASGI middleware that times every request and hands its record on."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from woollama.observability.observer import Observer
from woollama.observability.record import KEY, AccessRecord
from woollama.recipes.events import EVENT_SINK

_SURFACES = (
    ("/v1/responses", "responses"),
    ("/v1/messages", "anthropic"),
    ("/v1/conversations", "conversations"),
    ("/v1/status", "status"),
    ("/v1/", "openai"),
    ("/mcp", "mcp"),
    ("/health", "status"),
    ("/metrics", "status"),
    ("/static/", "status"),
)


def surface_of(path: str) -> str:
    for prefix, surface in _SURFACES:
        if path.startswith(prefix):
            return surface
    return "status" if path == "/" else "-"


class Observe:
    """Outermost: it sees every answer, the guard's and auth's refusals included."""

    def __init__(self, app: ASGIApp, observer: Observer):
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        record = AccessRecord(method=scope["method"], path=path, surface=surface_of(path))
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[KEY] = record
        observer = self.observer

        async def timed(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                if body:
                    record.bytes_out += len(body)
                    if record.first_byte is None:
                        record.first_byte = time.perf_counter()
            elif kind == "http.response.start":
                record.status = message["status"]
                record.response_started = time.perf_counter()
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        if value.startswith(b"text/event-stream"):
                            record.stream = True
                            observer.stream_started()
                        break
            await send(message)

        token = EVENT_SINK.set(record.on_event)
        try:
            await self.app(scope, receive, timed)
        except BaseException:
            if not record.status:
                record.status = 500  # answered by the server's last resort, if at all
            raise
        finally:
            EVENT_SINK.reset(token)
            record.ended = time.perf_counter()
            if record.stream:
                observer.stream_ended()
            route = scope.get("route")
            record.route = getattr(route, "path", None) or "other"
            observer.finished(record)
