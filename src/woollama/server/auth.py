"""Bearer-token auth for TCP clients when WOOLLAMA_TOKEN is set."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from woollama.errors import Unauthorized
from woollama.server.asgi_util import header, is_unix_socket, send_error


class BearerAuth:
    """Requires `Authorization: Bearer <token>` on TCP; the 0600 socket is trusted."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_unix_socket(scope):
            await self.app(scope, receive, send)
            return
        scheme, _, given = (header(scope, b"authorization") or "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("latin-1"), self._token
        )
        if not ok:
            reason = "missing" if not scheme else "invalid"
            await send_error(
                send,
                Unauthorized(
                    f"{reason} bearer token: send Authorization: Bearer <WOOLLAMA_TOKEN>",
                    code="invalid_api_key",
                ),
            )
            return
        await self.app(scope, receive, send)
