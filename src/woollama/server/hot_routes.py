"""The hot routes (pass-through and /mcp) found by one dict look-up, not Starlette's routing.

Starlette's router tries each route's regular expression in turn and wraps the
endpoint in its exception handling: several microseconds on every request, for
routes whose path is fixed and whose endpoints are bare ASGI apps that raise
`WoollamaError` and nothing else expected. Any other request (another method, a
path with parameters, a mounted root path) goes on to Starlette as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from woollama.errors import WoollamaError
from woollama.surfaces.http import on_woollama_error


class HotRoutes:
    """Innermost middleware: answers the given fixed-path routes itself."""

    def __init__(self, app: ASGIApp, routes: Iterable[Route]):
        self.app = app
        self._table: dict[tuple[str, str], Route] = {}
        for route in routes:
            if route.param_convertors:
                raise ValueError(f"{route.path} has path parameters; it is not a fixed route")
            for method in route.methods or ():
                self._table[(method, route.path)] = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self._table.get((scope["method"], scope["path"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        # What Starlette's router would have put there (the access log reads `route`).
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        try:
            await route.app(scope, receive, send)
        except WoollamaError as exc:
            # These endpoints raise before they answer. Were an answer half sent, the
            # server would refuse a second start, and the connection would close, as
            # it does after Starlette's handlers.
            response = await on_woollama_error(Request(scope, receive), exc)
            await response(scope, receive, send)
