"""Each HTTP request holds the providers it started on until its answer is sent."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class PinRouter:
    """A config reload closes replaced providers only once the requests using them end;
    this marks where a request (its stream included) starts and ends."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = getattr(scope["app"].state, "live", None) if scope["type"] == "http" else None
        if live is None:
            await self.app(scope, receive, send)
            return
        with live.pinned():
            await self.app(scope, receive, send)
