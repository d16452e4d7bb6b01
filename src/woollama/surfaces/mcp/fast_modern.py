"""A plain 2026-07-28 `tools/call` on `/mcp`, answered without the SDK's single-exchange entry.

The same checks run, with the SDK's own validators (the routing headers, the request's
`_meta` envelope, its params, the `Mcp-Param-*` headers), and the same answer is
written: `application/json` when the call ends within the SDK's window, else an event
stream that is pinged until the result. What only the SDK does (a request that opts
into log lines or progress, a client that can be asked something and so gets rounds,
a rejection to word) never reaches here: `plan` declines it before anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp.types as mt
import orjson
from mcp.server.connection import Connection
from mcp.server.runner import ServerRunner, modern_error_data
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    JSONRPCError,
    JSONRPCResponse,
)
from mcp_types import methods as _methods
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from woollama.surfaces.disconnect import unless_gone
from woollama.surfaces.mcp.peer import ignore_progress, missing_capabilities
from woollama.surfaces.mcp.scope import request_scope
from woollama.tools.peer import Caller

log = logging.getLogger(__name__)

_PARAM_KEYS = frozenset({"name", "arguments", "_meta"})
# The envelope alone: a log level or a progress token asks for what the SDK sends.
_META_KEYS = frozenset(
    {PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY}
)
_ASKING = ("sampling", "elicitation", "roots")  # such a client gets rounds (rounds.py)
WINDOW_S = 15.0  # the SDK's window before it commits to an event stream, and its ping
_PING = b": ping\r\n\r\n"
_JSON_HEAD = [(b"content-type", b"application/json")]
# What the SDK's event streams say of themselves, besides their content type.
STREAM_HEADERS = [
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
_SSE_HEAD = [(b"content-type", b"text/event-stream"), *STREAM_HEADERS]


@dataclass(frozen=True)
class ModernPlan:
    """A 2026-07-28 call found plain enough for this path."""

    request_id: int | str
    name: str
    entry: Any  # the registry's tool entry
    arguments: dict[str, Any]
    connection: Connection  # born from the request's envelope, as the SDK builds it


def plan(
    surface: Any, scope: Scope, headers: Headers, message: dict[str, Any]
) -> ModernPlan | None:
    """The call, if it is one this path answers exactly as the SDK would; else None."""
    if "mcp-session-id" in headers:
        return None
    params = message.get("params")
    if not isinstance(params, dict) or not set(params) <= _PARAM_KEYS:
        return None
    meta, name, arguments = params.get("_meta"), params.get("name"), params.get("arguments", {})
    if not isinstance(meta, dict) or not set(meta) <= _META_KEYS:
        return None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return None
    if find_duplicated_routing_header(headers.items()) is not None:
        return None
    verdict = classify_inbound_request(message, headers=dict(headers))
    if not isinstance(verdict, InboundModernRoute):
        return None
    capabilities = verdict.client_capabilities
    if not isinstance(capabilities, Mapping) or any(k in capabilities for k in _ASKING):
        return None
    try:
        _methods.validate_client_request("tools/call", verdict.protocol_version, params)
    except (ValidationError, KeyError):
        return None
    entry = surface.router.registry.by_model_name(name)
    if entry is None or not surface.scope.narrow(request_scope(Request(scope))).allows(
        entry.server, entry.name
    ):
        return None  # the SDK's path says why
    schema = entry.input_schema or {"type": "object"}
    if (arguments or any(h.startswith("mcp-param-") for h in headers)) and (
        validate_mcp_param_headers(schema, arguments, headers) is not None
    ):
        return None
    connection = Connection.from_envelope(
        verdict.protocol_version, verdict.client_info, verdict.client_capabilities
    )
    return ModernPlan(message["id"], name, entry, dict(arguments), connection)


async def answer(surface: Any, plan: ModernPlan, receive: Receive, send: Send) -> None:
    """Run the call and write its answer; a client that leaves cancels it, as on the SDK's."""
    log.debug("tools/call %s answered on the fast path", plan.entry.qualified)
    streaming = False

    async def ping() -> bool:
        # Silent past the window: an event stream, pinged so that no proxy's idle
        # timeout closes it (which would cancel the call).
        nonlocal streaming
        with contextlib.suppress(OSError):  # the client left: the call's watch says so
            if not streaming:
                await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEAD})
                streaming = True
            await send({"type": "http.response.body", "body": _PING, "more_body": True})
        return True

    # No task group: the call runs in this task and the watch ends by itself (one
    # cancelled task per call was a reference cycle per call for the collector).
    window = Window(ping)
    try:
        # 2026-07-28 has no resumable streams: leaving cancels.
        message = await unless_gone(receive, _call(surface, plan))
    finally:
        await window.close()
    if message is None:
        return  # the client left: nobody is owed an answer
    body = orjson.dumps(message)
    with contextlib.suppress(OSError):  # the client left as the call ended
        if streaming:
            event = b"event: message\r\ndata: " + body + b"\r\n\r\n"
            await send({"type": "http.response.body", "body": event, "more_body": False})
            return
        status = 200
        if "error" in message:
            status = ERROR_CODE_HTTP_STATUS.get(message["error"]["code"], 200)
        headers = [*_JSON_HEAD, (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Window:
    """The SDK's window on a silent call: `expire` runs once it passes, and again each
    window after while it returns True. A timer, not a task, until then: most calls end
    sooner, and a cancelled task per call is a reference cycle for the collector."""

    def __init__(self, expire: Callable[[], Awaitable[bool]]) -> None:
        self._expire = expire
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(WINDOW_S, self._fire)
        self._running: asyncio.Task[None] | None = None
        self._closed = False

    def _fire(self) -> None:
        self._running = self._loop.create_task(self._run())

    async def _run(self) -> None:
        if await self._expire() and not self._closed:
            self._timer = self._loop.call_later(WINDOW_S, self._fire)

    async def close(self) -> None:
        """No more runs; one in progress is finished first (half a head or ping written
        would break the answer)."""
        self._closed = True
        self._timer.cancel()
        if self._running is not None and not self._running.done():
            await asyncio.shield(self._running)


async def _call(surface: Any, plan: ModernPlan) -> dict[str, Any]:
    """The JSON-RPC answer to the call, as the SDK's dispatcher shapes it."""
    entry, request_id = plan.entry, plan.request_id
    lacking: dict[str, dict[str, Any]] = {}

    async def dropped(params: mt.LoggingMessageNotificationParams) -> None:
        return None  # the request did not opt into log lines: the SDK sends none

    def lacks(capability: str) -> None:
        lacking[capability] = {}

    caller = Caller(client=plan.connection, log=dropped, lacks=lacks)
    try:
        result = await surface.run_tool(entry, plan.arguments, caller, ignore_progress)
        if lacking:
            raise missing_capabilities("tools/call", plan.name, lacking)
        runner = ServerRunner(surface.server, plan.connection, None)
        dumped = runner._serialize("tools/call", plan.connection.protocol_version, result)
        response = JSONRPCResponse(jsonrpc="2.0", id=request_id, result=dumped)
    except Exception as exc:  # worded as the SDK's modern entry words it
        error = JSONRPCError(jsonrpc="2.0", id=request_id, error=modern_error_data(exc))
        return error.model_dump(mode="json", by_alias=True, exclude_none=True)
    return response.model_dump(mode="json", by_alias=True, exclude_none=True)
