"""Streamable HTTP details of `/mcp` that the SDK leaves to the application.

Header values are compared to the body (`Mcp-Method`, `Mcp-Name`) exactly, but HTTP
says a field value excludes the whitespace around it (RFC 9110 §5.5) and our parser
keeps it; so it is trimmed here, before the SDK looks. And every SSE stream opens with
a priming event carrying an id and a `retry:` hint, backed by an event store, so a
client whose stream drops mid-call reconnects with `Last-Event-ID` and loses nothing.
"""

from __future__ import annotations

from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Scope

from woollama.surfaces.mcp.event_store import BoundedEventStore

# How long a client whose stream dropped waits before reconnecting (the SSE `retry:`).
RETRY_MS = 1000
_OWS = b" \t"


def trimmed_headers(scope: Scope) -> Scope:
    """`scope` with leading and trailing spaces and tabs cut from every header value."""
    headers = scope.get("headers") or ()
    if not any(value[:1] in (b" ", b"\t") or value[-1:] in (b" ", b"\t") for _, value in headers):
        return scope  # the usual case: no copy
    return {**scope, "headers": [(name, value.strip(_OWS)) for name, value in headers]}


def session_manager(
    server: Server, security: TransportSecuritySettings
) -> StreamableHTTPSessionManager:
    """The one session manager of `/mcp`, resumable."""
    return StreamableHTTPSessionManager(
        app=server,
        security_settings=security,
        event_store=BoundedEventStore(),
        retry_interval=RETRY_MS,
    )
