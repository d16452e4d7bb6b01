"""The ASGI app: routes, middlewares, and the lifespan that owns every client."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware

from woollama.config.models import Config
from woollama.server.auth import BearerAuth
from woollama.server.guard import HostOriginGuard
from woollama.surfaces import openai_http, tools_http
from woollama.surfaces.http_common import EXCEPTION_HANDLERS
from woollama.surfaces.services import open_services

log = logging.getLogger(__name__)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class ServerSettings:
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, bind_host: str | None = None):
        hosts = _csv(env.get("WOOLLAMA_ALLOWED_HOSTS"))
        return cls(
            token=env.get("WOOLLAMA_TOKEN") or None,
            # The address the user chose to bind is a name clients legitimately use.
            allowed_hosts=(*hosts, bind_host) if bind_host else hosts,
            allowed_origins=_csv(env.get("WOOLLAMA_ALLOWED_ORIGINS")),
        )


def create_app(config: Config, settings: ServerSettings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(config) as services:
            app.state.services = services
            yield

    middleware = [
        Middleware(
            HostOriginGuard,
            extra_hosts=settings.allowed_hosts,
            extra_origins=settings.allowed_origins,
        )
    ]
    if settings.token:
        middleware.append(Middleware(BearerAuth, token=settings.token))
    return Starlette(
        routes=[*openai_http.ROUTES, *tools_http.ROUTES],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
