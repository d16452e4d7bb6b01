"""A handshake-era `tools/call` on `/mcp`, answered without the SDK's session machinery.

Most calls an MCP client makes are plain: one request, a known session, a downstream
server's tool in scope, a client that can answer nothing back. For those, the SDK's
transport, dispatcher and task groups cost about as much CPU as the call itself; here
the same result is written directly. A call that ends silently within the SDK's window
is answered `application/json`, as the SDK's JSON mode answers, so the client reads
the whole body and keeps its connection; one that sends log lines first, or runs
longer, gets the SDK's event stream (priming event, `message` events, each kept in the
event store so a dropped stream resumes). Cancellation and disconnects are honoured.
Anything else, decided before anything goes downstream, is handed to the SDK untouched.
"""

from __future__ import annotations

import contextlib
import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as mt
import orjson
from mcp.server.streamable_http import EventMessage, check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp_types import ErrorData, JSONRPCError, JSONRPCMessage, JSONRPCNotification, JSONRPCResponse
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from woollama.surfaces.mcp import fast_modern
from woollama.surfaces.mcp.peer import ignore_progress
from woollama.surfaces.mcp.scope import request_scope
from woollama.tools.peer import Caller, at_least

log = logging.getLogger(__name__)

_PARAM_KEYS = frozenset({"name", "arguments"})
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), *fast_modern.STREAM_HEADERS]
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class _Plan:
    """A call found plain enough for this path, with what answering it needs."""

    session_id: str
    request_id: int | str
    entry: Any  # the registry's tool entry
    arguments: dict[str, Any]
    connection: Any  # the SDK's connection: capabilities, negotiated version
    transport: Any  # the SDK's transport of the session: event store, idle accounting


class FastCalls:
    """Sessions seen on the SDK path, and the calls in flight on this one."""

    def __init__(self) -> None:
        # Mcp-Session-Id -> the SDK's Connection (its capabilities, its log level key).
        self._sessions: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._inflight: dict[tuple[str, Any], anyio.CancelScope] = {}
        self.served = 0  # how many calls took this path (woollama://tools shows it)
        self._security: TransportSecurityMiddleware | None = None  # built once per manager
        self._security_of: Any = None

    def remember(self, session_id: str | None, connection: Any) -> None:
        if session_id:
            self._sessions[session_id] = connection

    async def serve(
        self,
        surface: Any,
        manager: StreamableHTTPSessionManager,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> Receive | None:
        """Answer the request here (None), or the `receive` the SDK must read it from."""
        body, rest = await _read_body(receive)

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = {"type": "http.request", "body": body, "more_body": False}, None
                return message
            return await rest()

        request = await self._request(manager, scope, body)
        if request is None:
            return replay
        headers, message = request
        if headers.get("mcp-protocol-version") in MODERN_PROTOCOL_VERSIONS:
            modern = fast_modern.plan(surface, scope, headers, message)
            if modern is None:
                return replay
            self.served += 1
            await fast_modern.answer(surface, modern, receive, send)
            return None
        plan = self._plan(surface, manager, scope, headers, message)
        if plan is None:
            return replay
        with _holding(plan.transport):
            await self._run(surface, plan, receive, send)
        return None

    async def _request(
        self, manager: Any, scope: Scope, body: bytes | None
    ) -> tuple[Headers, dict[str, Any]] | None:
        """A POST of one JSON-RPC `tools/call` that passes the SDK's transport checks."""
        if body is None:
            return None
        request = Request(scope)
        headers = request.headers
        ctype = headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/json" or check_accept_headers(request) != (True, True):
            return None
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return None
        method = message.get("method")
        if method == "notifications/cancelled":
            params = message.get("params")
            session_id = headers.get("mcp-session-id")
            if isinstance(params, dict) and session_id:
                cancelling = self._inflight.get((session_id, params.get("requestId")))
                if cancelling is not None:
                    cancelling.cancel()
            return None  # the SDK still acknowledges it
        request_id = message.get("id")
        if (
            method != "tools/call"
            or set(message) != {"jsonrpc", "id", "method", "params"}
            or isinstance(request_id, bool)
            or not isinstance(request_id, int | str)
        ):
            return None  # batches, responses, other methods: the SDK's
        if self._security is None or self._security_of is not manager:
            self._security = TransportSecurityMiddleware(manager.security_settings)
            self._security_of = manager
        if await self._security.validate_request(request, is_post=True) is not None:
            return None
        return headers, message

    def _plan(
        self, surface: Any, manager: Any, scope: Scope, headers: Headers, message: dict[str, Any]
    ) -> _Plan | None:
        session_id = headers.get("mcp-session-id")
        if headers.get("mcp-protocol-version") not in HANDSHAKE_PROTOCOL_VERSIONS or not session_id:
            return None
        request_id = message["id"]
        params = message.get("params")
        if (
            not isinstance(params, dict)
            or not set(params) <= _PARAM_KEYS
            or not isinstance(params.get("name"), str)
            or not isinstance(params.get("arguments", {}), dict)
        ):
            return None  # progress tokens, request state...: the SDK's
        if (session_id, request_id) in self._inflight:
            return None
        transport = manager._server_instances.get(session_id)
        connection = self._sessions.get(session_id)
        if transport is None or transport.is_terminated or connection is None:
            return None
        if transport.idle_scope is not None and transport.idle_scope.cancel_called:
            return None  # the session is ending: the SDK answers that
        if transport.is_json_response_enabled or transport._event_store is None:
            return None
        if headers.get("mcp-protocol-version") != connection.protocol_version:
            return None
        capabilities = connection.client_capabilities
        if (
            capabilities is None
            or capabilities.sampling
            or capabilities.elicitation
            or capabilities.roots
        ):
            return None
        entry = surface.router.registry.by_model_name(params["name"])
        if entry is None or not surface.scope.narrow(request_scope(Request(scope))).allows(
            entry.server, entry.name
        ):
            return None
        arguments = dict(params.get("arguments") or {})
        return _Plan(session_id, request_id, entry, arguments, connection, transport)

    async def _run(self, surface: Any, plan: _Plan, receive: Receive, send: Send) -> None:
        session_id, request_id, entry = plan.session_id, plan.request_id, plan.entry
        connection, transport = plan.connection, plan.transport
        store = transport._event_store
        stream_id = str(request_id)
        session_header = (b"mcp-session-id", session_id.encode())
        self.served += 1
        log.debug("tools/call %s answered on the fast path", entry.qualified)

        gone = anyio.Event()  # the client's stream dropped: it may resume with Last-Event-ID
        streaming = False  # committed to an event stream
        ended = False
        opening = anyio.Lock()

        async def open_stream() -> None:
            # A call that speaks before its answer, or outlasts the window, answers on an
            # event stream whose priming event lets a dropped stream resume. One that
            # ends silently answers JSON: a client then reads the whole body and keeps
            # its connection (the SDK's stops reading an event stream at the answer).
            nonlocal streaming
            async with opening:
                if streaming or gone.is_set():
                    return
                streaming = True
                priming = await store.store_event(stream_id, None)
                retry = transport._retry_interval
                head = f"id: {priming}\r\ndata: \r\n" + (
                    f"retry: {retry}\r\n" if retry is not None else ""
                )
                try:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [*_SSE_HEADERS, session_header],
                        }
                    )
                    body = (head + "\r\n").encode()
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                except OSError:
                    gone.set()

        async def emit(message: JSONRPCMessage, *, last: bool = False) -> None:
            nonlocal ended
            data = message.model_dump_json(by_alias=True, exclude_unset=True)
            if last and not streaming:
                if gone.is_set():
                    return  # nobody holds an event id to resume with: the answer is lost
                body = data.encode()
                headers = [*_JSON_HEADERS, session_header, (b"content-length", b"%d" % len(body))]
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                ended = True
                return
            await open_stream()
            event_id = await store.store_event(stream_id, message)
            if gone.is_set():
                # A resumed stream (the SDK's GET with Last-Event-ID) tails this call.
                resumed = transport._request_streams.get(stream_id)
                if resumed is not None:
                    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await resumed[0].send(EventMessage(message, event_id))
                return
            chunk = f"id: {event_id}\r\nevent: message\r\ndata: {data}\r\n\r\n"
            # The answer and the stream's end go out in one write.
            try:
                await send(
                    {"type": "http.response.body", "body": chunk.encode(), "more_body": not last}
                )
                ended = last
            except OSError:
                gone.set()

        async def open_at_window() -> bool:
            await open_stream()
            return False

        async def relay(params: mt.LoggingMessageNotificationParams) -> None:
            if at_least(params.level, surface.peers._levels.get(connection, "debug")):
                body = params.model_dump(by_alias=True, mode="json", exclude_none=True)
                await emit(
                    JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params=body)
                )

        caller = Caller(client=connection, log=relay)
        result: mt.CallToolResult | None = None
        failure: Exception | None = None
        window = fast_modern.Window(open_at_window)
        with anyio.CancelScope() as cancel:
            self._inflight[(session_id, request_id)] = cancel
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(_watch_disconnect, receive, gone)
                    try:
                        result = await surface.run_tool(
                            entry, plan.arguments, caller, ignore_progress
                        )
                    except Exception as exc:  # answered as the SDK's dispatcher answers it
                        log.exception("handler for 'tools/call' raised")
                        failure = exc
                    group.cancel_scope.cancel()
            finally:
                self._inflight.pop((session_id, request_id), None)
                with anyio.CancelScope(shield=True):  # a cancelled call still ends its window
                    await window.close()
        if failure is not None:
            error = ErrorData(code=0, message=str(failure))
            await emit(JSONRPCError(jsonrpc="2.0", id=request_id, error=error), last=True)
        elif result is None:  # cancelled by the client: no answer is owed, the stream ends
            await open_stream()
            if streaming:
                await _finish(send)
            return
        else:
            dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
            await emit(JSONRPCResponse(jsonrpc="2.0", id=request_id, result=dumped), last=True)
        resumed = transport._request_streams.get(stream_id) if gone.is_set() else None
        if resumed is not None:
            resumed[0].close()  # the answer is out: the resumed stream ends, as the SDK's does
        if streaming and not ended:
            await _finish(send)


@contextlib.contextmanager
def _holding(transport: Any) -> Iterator[None]:
    """The session stays alive while the call runs, as the SDK's own requests hold it."""
    idle = transport.idle_scope
    timeout = transport._idle_timeout
    if idle is None or timeout is None:
        yield
        return
    transport._requests_in_flight += 1
    idle.deadline = math.inf
    try:
        yield
    finally:
        transport._requests_in_flight -= 1
        if not transport._requests_in_flight:
            idle.deadline = anyio.current_time() + timeout


async def _finish(send: Send) -> None:
    with contextlib.suppress(OSError):  # the client left already
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, gone: anyio.Event) -> None:
    # As on the SDK's path, a dropped stream does not cancel the call: its events stay
    # in the store for the client's reconnect; `notifications/cancelled` cancels.
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _read_body(receive: Receive) -> tuple[bytes | None, Callable[[], Awaitable[Message]]]:
    """The whole body (None if the client left first), and `receive` for what follows."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # A disconnect before the body ended: the SDK sees it as it would have.
            first: Message | None = message

            async def after() -> Message:
                nonlocal first
                if first is not None:
                    got, first = first, None
                    return got
                return await receive()

            return None, after
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), receive
