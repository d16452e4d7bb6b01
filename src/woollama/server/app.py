"""The ASGI app: routes, middlewares, and the lifespan that owns every client."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import anyio
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from woollama.config.models import Config
from woollama.observability.middleware import Observe
from woollama.observability.observer import Observer
from woollama.routing.reload import open_live_router
from woollama.routing.router import Router
from woollama.server.auth import BearerAuth
from woollama.server.guard import HostOriginGuard
from woollama.server.hot_routes import HotRoutes
from woollama.server.pinning import PinRouter
from woollama.server.startup import StartupLines
from woollama.surfaces.anthropic import routes as anthropic_routes
from woollama.surfaces.conversations import routes as conversations_routes
from woollama.surfaces.http import EXCEPTION_HANDLERS, AnswerUnexpected
from woollama.surfaces.mcp import transport as mcp_transport
from woollama.surfaces.mcp.server import McpSurface
from woollama.surfaces.openai import routes as openai_routes
from woollama.surfaces.openai import tools as tools_routes
from woollama.surfaces.responses import routes as responses_routes
from woollama.surfaces.status import routes as status_routes
from woollama.surfaces.status.routes import PUBLIC_PATHS

log = logging.getLogger(__name__)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class ServerSettings:
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    address: str | None = None  # host:port as bound, and the socket, for the status
    socket: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, bind_host: str | None = None):
        hosts = _csv(env.get("WOOLLAMA_ALLOWED_HOSTS"))
        return cls(
            token=env.get("WOOLLAMA_TOKEN") or None,
            # The address the user chose to bind is a name clients legitimately use.
            allowed_hosts=(*hosts, bind_host) if bind_host else hosts,
            allowed_origins=_csv(env.get("WOOLLAMA_ALLOWED_ORIGINS")),
        )


def create_app(
    config: Config, settings: ServerSettings, startup: StartupLines | None = None
) -> Starlette:
    observer = Observer.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_live_router(config) as live:
            router = live.router
            app.state.live = live
            app.state.router = router
            app.state.config_problems = live.problems  # kept current by every reload
            if startup is not None:
                router.registry.on_settled(startup.server_settled)
            observer.attach(
                lambda: getattr(app.state, "router", None),
                lambda: getattr(app.state, "config_problems", []),
            )
            surface = McpSurface(live.current, observer)

            def swapped(before: Router, after: Router) -> None:
                app.state.router = after
                surface.config_changed(before.config, after.config)

            live.on_swap(swapped)
            app.state.mcp = mcp_transport.session_manager(surface.server, _mcp_security(settings))
            app.state.mcp_surface = surface
            async with app.state.mcp.run(), anyio.create_task_group() as watching:
                watching.start_soon(observer.run_watch, name="health-watch")
                yield
                watching.cancel_scope.cancel()

    # Outermost, so it sees every answer: the guard's, auth's and the last resort's too.
    middleware = [Middleware(Observe, observer=observer)] if observer.enabled else []
    middleware += [
        # Outermost of ours, so an error anywhere inside is answered on a connection
        # that stays open; Starlette's own last resort would close it.
        Middleware(AnswerUnexpected),
        Middleware(
            HostOriginGuard,
            extra_hosts=settings.allowed_hosts,
            extra_origins=settings.allowed_origins,
        ),
    ]
    if settings.token:
        middleware.append(Middleware(BearerAuth, token=settings.token, public=PUBLIC_PATHS))
    middleware.append(Middleware(PinRouter))  # a reload closes providers once unpinned
    # Exactly /mcp: a Mount would answer /mcp with a redirect to /mcp/.
    mcp_route = Route("/mcp", _McpEndpoint(), methods=["GET", "POST", "DELETE"])
    # Innermost: the pass-through routes and /mcp by one dict look-up, past Starlette's
    # routing.
    hot = [r for r in openai_routes.ROUTES if isinstance(r.endpoint, openai_routes.PassThrough)]
    middleware.append(Middleware(HotRoutes, routes=[*hot, mcp_route]))
    app = Starlette(
        routes=[
            *openai_routes.ROUTES,
            *responses_routes.ROUTES,
            *tools_routes.ROUTES,
            *conversations_routes.ROUTES,
            *anthropic_routes.ROUTES,
            mcp_route,
            *status_routes.ROUTES,
        ],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.observer = observer
    app.state.address = settings.address
    app.state.socket = settings.socket
    return app


class _McpEndpoint:
    """Streamable HTTP, handed to the session manager the lifespan created."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager: StreamableHTTPSessionManager = scope["app"].state.mcp
        scope = mcp_transport.trimmed_headers(scope)
        if scope["method"] == "POST":
            surface = scope["app"].state.mcp_surface
            replay = await surface.fast.serve(surface, manager, scope, receive, send)
            if replay is None:
                return  # answered on the fast path (surfaces/mcp/fast_call.py)
            receive = replay
        await manager.handle_request(scope, receive, send)


def _mcp_security(settings: ServerSettings) -> TransportSecuritySettings:
    """The SDK's own DNS-rebinding check, kept on as a second line behind our guard."""
    hosts = ["localhost", "127.0.0.1", "[::1]", *settings.allowed_hosts]
    bracketed = [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts]
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for h in bracketed]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*bracketed, *(f"{h}:*" for h in bracketed)],
        allowed_origins=[*origins, *(f"{o}:*" for o in origins), *settings.allowed_origins],
    )
