"""`woollama mcp` in front of a running woollama: stdio relayed to its `/mcp`.

Every desktop client spawns its own `woollama mcp`; served in-process, each would
start its own copy of every downstream server. When a woollama already runs for
this user, the bridge relays JSON-RPC messages, unchanged, between stdin/stdout and
that woollama's Streamable HTTP endpoint on its Unix socket, so every client shares
one set of servers and everything `/mcp` serves reaches the stdio client as it is:
tools, prompts, resources, notifications, progress, cancellation, and the server's
own requests (elicitation, sampling) with their answers.

The SDK's Streamable HTTP client transport does the HTTP side (the session id, the
GET stream for server-initiated messages, SSE, aborting a 2026-07-28 POST on
cancel); what an SDK client session would add per message is added here: the
protocol-version header, and on 2026-07-28 requests the routing headers that mirror
the body (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
    find_invalid_x_mcp_header,
    mcp_param_headers,
    x_mcp_header_map,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import PROTOCOL_VERSION_META_KEY

from woollama.surfaces.mcp.scope import Scope

log = logging.getLogger(__name__)

URL = "http://localhost/mcp"  # the Host the socket's guard and the SDK's own check accept
PROBE_TIMEOUT = 2.0
CONNECT_TIMEOUT = 10.0


class WoollamaGone(Exception):
    """The running woollama stopped answering while bridged."""


def answers(socket: Path, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a woollama answers on `socket` (a stale socket file does not)."""
    if not socket.exists():
        return False
    transport = httpx2.HTTPTransport(uds=str(socket))
    try:
        with httpx2.Client(transport=transport, timeout=timeout) as http:
            response = http.get("http://localhost/health")
    except (httpx2.HTTPError, OSError):
        return False
    return response.status_code < 500


@dataclass
class _Wire:
    """What the bridge learns from the traffic to stamp later messages as a session would."""

    legacy_version: str | None = None  # negotiated by `initialize` (2025-era)
    pending: dict[types.RequestId, str] = field(default_factory=dict)  # id -> method
    param_headers: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)

    def headers_for(self, message: types.JSONRPCMessage) -> dict[str, str] | None:
        if isinstance(message, types.JSONRPCRequest | types.JSONRPCNotification):
            params = message.params or {}
            meta = params.get("_meta")
            version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, Mapping) else None
            if isinstance(version, str):
                return self._modern(message.method, params, version)
            if message.method == "initialize":
                return None  # the negotiation itself carries no version header
        return {MCP_PROTOCOL_VERSION_HEADER: self.legacy_version} if self.legacy_version else None

    def _modern(self, method: str, params: Mapping[str, Any], version: str) -> dict[str, str]:
        headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: method}
        key = NAME_BEARING_METHODS.get(method)
        if key is not None and isinstance(name := params.get(key), str):
            headers[MCP_NAME_HEADER] = encode_header_value(name)
        if method == "tools/call" and isinstance(name := params.get("name"), str):
            header_map = self.param_headers.get(name)
            arguments = params.get("arguments")
            if header_map and isinstance(arguments, Mapping):
                headers.update(mcp_param_headers(header_map, arguments))
        return headers

    def sent(self, message: types.JSONRPCMessage) -> None:
        if isinstance(message, types.JSONRPCRequest) and message.method in (
            "initialize",
            "tools/list",
        ):
            self.pending[message.id] = message.method

    def received(self, message: types.JSONRPCMessage) -> None:
        if not isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            return
        method = self.pending.pop(message.id, None) if message.id is not None else None
        if not isinstance(message, types.JSONRPCResponse):
            return
        result = message.result
        if method == "initialize" and isinstance(version := result.get("protocolVersion"), str):
            self.legacy_version = version
        elif method == "tools/list":
            for tool in result.get("tools") or []:
                schema = tool.get("inputSchema") if isinstance(tool, Mapping) else None
                if (
                    isinstance(schema, Mapping)
                    and find_invalid_x_mcp_header(schema) is None
                    and (header_map := x_mcp_header_map(schema))
                ):
                    self.param_headers[tool["name"]] = header_map


async def _to_woollama(
    client: ObjectReceiveStream[SessionMessage | Exception],
    woollama: ObjectSendStream[SessionMessage],
    wire: _Wire,
) -> None:
    async with woollama:
        async for item in client:
            if isinstance(item, Exception):
                log.warning("ignored a line from the client that is not JSON-RPC: %s", item)
                continue
            message = item.message
            wire.sent(message)
            headers = wire.headers_for(message)
            metadata = ClientMessageMetadata(headers=headers) if headers else None
            await woollama.send(SessionMessage(message, metadata=metadata))


async def _to_client(
    woollama: ObjectReceiveStream[SessionMessage | Exception],
    client: ObjectSendStream[SessionMessage],
    wire: _Wire,
) -> None:
    async with client:  # closing it lets the stdout writer finish
        async for item in woollama:
            if isinstance(item, Exception):
                log.warning("woollama's stream failed: %s", item)
                continue
            wire.received(item.message)
            await client.send(SessionMessage(item.message))


async def bridge(
    socket: Path, scope: Scope | None = None, gone: Callable[[WoollamaGone], None] | None = None
) -> None:
    """Relay stdin/stdout to the woollama on `socket` until either side ends.

    When that woollama stops answering, `gone` hears it at once, while stdin is still
    open: the caller may end the process there, since the thread reading stdin cannot
    be interrupted. Without `gone`, WoollamaGone is raised once the client closes stdin.
    """
    headers = (scope or Scope()).headers()
    # No read timeout: the GET stream is quiet for as long as nothing changes, and a
    # tool call is bounded by woollama's own tool timeout.
    timeout = httpx2.Timeout(CONNECT_TIMEOUT, read=None)
    transport = httpx2.AsyncHTTPTransport(uds=str(socket))
    wire = _Wire()
    async with stdio_server() as (from_client, to_client):
        try:
            async with (
                httpx2.AsyncClient(transport=transport, headers=headers, timeout=timeout) as http,
                streamable_http_client(URL, http_client=http) as (from_woollama, to_woollama),
                anyio.create_task_group() as tg,
            ):

                async def upstream() -> None:
                    await _to_woollama(from_client, to_woollama, wire)
                    tg.cancel_scope.cancel()  # the client closed stdin: it is done

                async def downstream() -> None:
                    await _to_client(from_woollama, to_client, wire)
                    tg.cancel_scope.cancel()

                tg.start_soon(upstream)
                tg.start_soon(downstream)
        except Exception as exc:
            if (lost := _connection_lost(exc)) is None:
                raise
            problem = WoollamaGone(f"the woollama on {socket} stopped answering ({lost})")
            if gone is not None:
                gone(problem)
            raise problem from None
        finally:
            await to_client.aclose()  # lets the stdout writer finish


def _connection_lost(exc: BaseException) -> BaseException | None:
    """The connection failure inside `exc` (task groups wrap it), if that is what it is."""
    if isinstance(exc, httpx2.HTTPError | OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _connection_lost(inner)) is not None:
                return found
    return None
