"""DNS-rebinding guard: only loopback Host names, and no foreign browser Origin."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from woollama.errors import Forbidden
from woollama.server.asgi_util import is_unix_socket, send_error

_VERDICTS_KEPT = 256  # distinct Host/Origin pairs remembered; more are judged each time
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def split_host(value: str) -> str:
    """The host part of a Host header or URL netloc, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostOriginGuard:
    """Refuses (403) requests a web page could have made through DNS rebinding.

    The Unix socket is exempt: no browser can reach it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        extra_hosts: Iterable[str] = (),
        extra_origins: Iterable[str] = (),
    ):
        self.app = app
        self.extra_hosts = frozenset(split_host(h) for h in extra_hosts if h)
        self.extra_origins = frozenset(o.rstrip("/").lower() for o in extra_origins if o)
        # True: let through.
        self._verdicts: dict[tuple[bytes | None, bytes | None], Forbidden | bool] = {}

    def _host_ok(self, host: str | None) -> bool:
        if host is None:
            return False
        name = split_host(host)
        return is_loopback(name) or name in self.extra_hosts

    def _origin_ok(self, origin: str | None) -> bool:
        if origin is None:  # not a browser, or a same-origin GET
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.extra_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and is_loopback(split_host(parts.netloc))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_unix_socket(scope):
            await self.app(scope, receive, send)
            return
        host = origin = None
        for key, value in scope["headers"]:
            if key == b"host":
                if host is None:
                    host = value
            elif key == b"origin" and origin is None:
                origin = value
        # Clients send the same few Host and Origin values again and again: each pair
        # is judged once, as bytes, and the verdict kept (a bounded number of them).
        verdict = self._verdicts.get((host, origin))
        if verdict is None:
            verdict = self._judge(host, origin) or True
            if len(self._verdicts) < _VERDICTS_KEPT:
                self._verdicts[(host, origin)] = verdict
        if verdict is True:
            await self.app(scope, receive, send)
        else:
            await send_error(scope, send, verdict)

    def _judge(self, host: bytes | None, origin: bytes | None) -> Forbidden | None:
        """None when the request may pass, else the refusal to send."""
        host_text = None if host is None else host.decode("latin-1")
        if not self._host_ok(host_text):
            return Forbidden(
                f"Host {host_text!r} is not a loopback name; woollama only answers to "
                "localhost (add hosts with WOOLLAMA_ALLOWED_HOSTS)",
                code="forbidden_host",
            )
        origin_text = None if origin is None else origin.decode("latin-1")
        if not self._origin_ok(origin_text):
            return Forbidden(
                f"Origin {origin_text!r} is not allowed; allow it with WOOLLAMA_ALLOWED_ORIGINS",
                code="forbidden_origin",
            )
        return None
