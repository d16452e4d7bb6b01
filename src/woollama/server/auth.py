"""Token auth for TCP clients when WOOLLAMA_TOKEN is set."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from woollama.errors import Unauthorized
from woollama.server.asgi_util import is_unix_socket, send_error


class BearerAuth:
    """Requires the token on TCP; the 0600 socket is trusted.

    `Authorization: Bearer <token>` is how OpenAI clients send it; Anthropic's SDKs
    and Claude Code send their key as `x-api-key`, which counts the same.
    """

    def __init__(self, app: ASGIApp, token: str, public: frozenset[str] = frozenset()):
        self.app = app
        self._token = token.encode()
        self._bearer = b"Bearer " + self._token
        # The status page's own files, which hold no data: a browser loads them
        # without a header, and the page then asks for the token.
        self._public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_unix_socket(scope):
            await self.app(scope, receive, send)
            return
        if scope["path"] in self._public and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        authorization = api_key = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                if authorization is None:
                    authorization = value
            elif key == b"x-api-key" and api_key is None:
                api_key = value
        # The header as clients write it is compared whole, in constant time; only
        # another spelling (a lower-case scheme, spaces) is taken apart.
        if authorization is not None and hmac.compare_digest(authorization, self._bearer):
            await self.app(scope, receive, send)
            return
        scheme, _, given = (authorization or b"").partition(b" ")
        if scheme.lower() == b"bearer" and self._matches(given):
            await self.app(scope, receive, send)
            return
        if api_key is not None and self._matches(api_key):
            await self.app(scope, receive, send)
            return
        reason = "missing" if not scheme and api_key is None else "invalid"
        error = Unauthorized(
            f"{reason} token: send Authorization: Bearer <WOOLLAMA_TOKEN> "
            "(or x-api-key: <WOOLLAMA_TOKEN>)",
            code="invalid_api_key",
        )
        await send_error(scope, send, error)

    def _matches(self, given: bytes) -> bool:
        return hmac.compare_digest(given.strip(), self._token)
