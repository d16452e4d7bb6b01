"""A lean MCP Streamable HTTP client transport for plain-HTTP downstream servers.

The SDK's `streamable_http_client` spends about 1.3 ms of CPU per `tools/call` on
httpx, httpcore, anyio task groups and context streams. This speaks the same wire
over `providers/http1.py` (keep-alive HTTP/1.1 on httptools) with one task per
request and an incremental SSE decoder. It is a drop-in for what `mcp.Client`
takes: a context manager yielding the read and write streams of `SessionMessage`.
HTTPS, proxies and SSE-transport servers stay on the SDK (see `lean_origin`).

A transport failure resolves the waiting request with a CONNECTION_CLOSED error,
which `ServerConnection.request` turns into ToolUnavailable and a reconnect.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.jsonrpc_dispatcher import cancelled_request_id_from_params
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
    jsonrpc_message_adapter,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from woollama.errors import WoollamaError
from woollama.providers.http import proxy_for
from woollama.providers.http1 import Http1Pool, Http1Response, Origin
from woollama.providers.sse import ServerSentEvent, SSEDecoder

log = logging.getLogger(__name__)

_VERSION = "mcp-protocol-version"
_SESSION = "mcp-session-id"
# The SDK's defaults (create_mcp_http_client, streamable_http).
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 300.0
CLOSE_TIMEOUT = 5.0  # the DELETE on close; a server gone must not hold shutdown up
RETRY_MS = 1000
MAX_RECONNECTS = 2
DRAIN_TIMEOUT = 5.0  # after its response, a stream is read to its end to keep the connection

Writer = MemoryObjectSendStream[SessionMessage | Exception]


def lean_origin(url: str) -> Origin | None:
    """Where the lean transport can take `url`: plain HTTP, no proxy, no credentials."""
    origin = Origin.of(url)
    if origin is None or proxy_for(url) is not None:
        return None
    bypass = urllib.request.proxy_bypass_environment(origin.host)
    if not bypass and urllib.request.getproxies_environment().get("all"):
        return None
    return origin


class _StreamFailed(Exception):
    pass


@dataclass(slots=True)
class _InFlight:
    scope: anyio.CancelScope
    modern: bool  # the era the request was sent under decides what its cancel means


class LeanTransport:
    def __init__(self, url: str, origin: Origin, headers: Mapping[str, str]):
        self.url = url
        self.session_id: str | None = None
        self._endpoint = "" if origin.path else "/"
        self._configured = {k.lower(): v for k, v in headers.items()}
        self._version: str | None = None
        self._in_flight: dict[RequestId, _InFlight] = {}
        self._pool = Http1Pool(
            origin,
            provider=url,
            base_url=url,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            subject="it",
            hint="",
        )

    def _headers(self, accept: str = "application/json, text/event-stream") -> dict[str, str]:
        headers = {**self._configured, "accept": accept, "content-type": "application/json"}
        if self.session_id:
            headers[_SESSION] = self.session_id
        if self._version:
            headers[_VERSION] = self._version
        return headers

    async def _send(self, method: str, body: bytes, headers: Mapping[str, str]) -> Http1Response:
        try:
            return await self._pool.post(self._endpoint, body, headers, method)
        except WoollamaError as exc:
            raise _StreamFailed(exc.message) from None

    # -- the writer ----------------------------------------------------------------

    async def write_loop(
        self, outgoing: AsyncIterator[SessionMessage], writer: Writer, tg: TaskGroup
    ) -> None:
        async for session_message in outgoing:
            message = session_message.message
            if self._swallowed_cancel(message):
                continue
            meta = session_message.metadata
            meta = meta if isinstance(meta, ClientMessageMetadata) else None
            if isinstance(message, JSONRPCRequest) and message.method == "initialize":
                self._version = None  # the handshake negotiates it afresh
            elif meta is not None and meta.headers:
                stamped = next((v for k, v in meta.headers.items() if k.lower() == _VERSION), None)
                if stamped:
                    self._version = stamped
            if (isinstance(message, JSONRPCNotification)
                    and message.method == "notifications/initialized"):  # fmt: skip
                tg.start_soon(self.listen, writer)
            if isinstance(message, JSONRPCRequest):
                flight = _InFlight(anyio.CancelScope(), self._version in MODERN_PROTOCOL_VERSIONS)
                previous = self._in_flight.get(message.id)
                if previous is not None:  # a reused id: the old stream must not answer it
                    previous.scope.cancel()
                self._in_flight[message.id] = flight
                tg.start_soon(self._request, session_message, meta, flight, writer)
            else:
                try:
                    await self._post(session_message, meta, writer)
                except _StreamFailed as exc:
                    log.debug("MCP %s: posting a %s failed: %s", self.url, type(message), exc)

    def _swallowed_cancel(self, message: object) -> bool:
        """At 2026-07-28 closing a request's stream is its cancellation; the SDK's
        courtesy `notifications/cancelled` becomes that and is not posted."""
        if not (isinstance(message, JSONRPCNotification)
                and message.method == "notifications/cancelled"):  # fmt: skip
            return False
        request_id = cancelled_request_id_from_params(message.params)
        flight = self._in_flight.get(request_id) if request_id is not None else None
        if flight is not None:
            if not flight.modern:
                return False
            flight.scope.cancel()
            return True
        return self._version in MODERN_PROTOCOL_VERSIONS

    async def _request(
        self,
        session_message: SessionMessage,
        meta: ClientMessageMetadata | None,
        flight: _InFlight,
        writer: Writer,
    ) -> None:
        message = session_message.message
        assert isinstance(message, JSONRPCRequest)
        try:
            with flight.scope:
                if meta is not None and meta.resumption_token:
                    await self._resume(message.id, meta.resumption_token, meta, writer, 0)
                else:
                    await self._post(session_message, meta, writer)
        except _StreamFailed as exc:
            await _resolve(writer, message.id, f"MCP server at {self.url}: {exc}")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the session is closing; nobody waits for the answer
        finally:
            if self._in_flight.get(message.id) is flight:
                del self._in_flight[message.id]

    async def _post(
        self, session_message: SessionMessage, meta: ClientMessageMetadata | None, writer: Writer
    ) -> None:
        message = session_message.message
        headers = self._headers()
        if meta is not None and meta.headers:
            headers.update((k.lower(), v) for k, v in meta.headers.items())
        body = message.model_dump_json(by_alias=True, exclude_unset=True).encode()
        response = await self._send("POST", body, headers)
        try:
            await self._answer(message, response, meta, writer)
        finally:
            response.abandon()

    async def _answer(
        self, message: object, response: Http1Response, meta: ClientMessageMetadata | None,
        writer: Writer,
    ) -> None:  # fmt: skip
        request_id = message.id if isinstance(message, JSONRPCRequest) else None
        status = response.status
        if status == 202 or request_id is None:
            if status == 202 and request_id is not None:
                await _resolve(writer, request_id, "server answered a request with 202 Accepted",
                               INVALID_REQUEST)  # fmt: skip
            elif status >= 400:
                log.debug("MCP %s: a notification or response was refused: %d", self.url, status)
            await _read(response)
            return
        if 300 <= status < 400:
            location = _header(response, b"location")
            await _resolve(writer, request_id, f"Redirect to {location} not followed",
                           INVALID_REQUEST)  # fmt: skip
            return
        content_type = response.content_type.lower()
        if status >= 400:
            await self._refused(request_id, response, content_type, writer)
            return
        if isinstance(message, JSONRPCRequest) and message.method == "initialize":
            session_id = _header(response, b"mcp-session-id")
            if session_id:
                self.session_id = session_id
        if content_type.startswith("application/json"):
            body = await _read(response)
            try:
                reply = jsonrpc_message_adapter.validate_json(body, by_name=False)
            except ValueError as exc:
                await _resolve(writer, request_id, f"Failed to parse JSON response: {exc}",
                               PARSE_ERROR)  # fmt: skip
                return
            await writer.send(SessionMessage(reply))
        elif content_type.startswith("text/event-stream"):
            last_id, retry = await self._events(response, request_id, meta, writer)
            if last_id is _DONE:
                return
            if last_id is None:
                await _resolve(writer, request_id, "SSE stream ended without a response")
                return
            await self._resume(request_id, last_id, meta, writer, 0, retry)
        else:
            await _resolve(writer, request_id, f"Unexpected content type: {content_type}",
                           INVALID_REQUEST)  # fmt: skip

    async def _refused(
        self, request_id: RequestId, response: Http1Response, content_type: str, writer: Writer
    ) -> None:
        body = await _read(response)
        if content_type.startswith("application/json"):
            with contextlib.suppress(ValueError):
                parsed = jsonrpc_message_adapter.validate_json(body, by_name=False)
                if isinstance(parsed, JSONRPCError):
                    reply = JSONRPCError(jsonrpc="2.0", id=request_id, error=parsed.error)
                    await writer.send(SessionMessage(reply))
                    return
        if response.status == 404:
            if self.session_id is None:
                await _resolve(writer, request_id, "Not Found", METHOD_NOT_FOUND)
            else:
                await _resolve(writer, request_id, "Session terminated", INVALID_REQUEST)
            return
        await _resolve(writer, request_id, "Server returned an error response", INTERNAL_ERROR)

    async def _events(
        self,
        response: Http1Response,
        request_id: RequestId | None,
        meta: ClientMessageMetadata | None,
        writer: Writer,
    ) -> tuple[str | None, int | None]:
        """Relay a stream's messages; returns (_DONE, _) once the response came, else
        the last event id and retry interval for resuming it."""
        decoder = SSEDecoder()
        last_id: str | None = None
        retry: int | None = None
        on_token = meta.on_resumption_token_update if meta is not None else None
        try:
            async for chunk in response.iter_bytes():
                for event in decoder.feed(chunk):
                    if event.id:
                        last_id = event.id
                    if event.retry is not None:
                        retry = event.retry
                    if await self._relay(event, request_id, on_token, writer):
                        await self._drain(response)
                        return _DONE, retry
        except ValueError as exc:
            if request_id is not None:
                await _resolve(writer, request_id, f"SSE stream failed: {exc}")
                return _DONE, retry
            raise _StreamFailed(str(exc)) from None
        except WoollamaError as exc:
            log.debug("MCP %s: SSE stream ended: %s", self.url, exc)
        return last_id, retry

    async def _relay(
        self,
        event: ServerSentEvent,
        request_id: RequestId | None,
        on_token: Callable[[str], Awaitable[None]] | None,
        writer: Writer,
    ) -> bool:
        if event.event != "message":
            return False
        if not event.data:  # a priming event: only its id matters
            if event.id and on_token is not None:
                await on_token(event.id)
            return False
        try:
            message = jsonrpc_message_adapter.validate_json(event.data, by_name=False)
        except ValueError as exc:
            if request_id is not None:
                await _resolve(writer, request_id, f"Failed to parse SSE message: {exc}",
                               PARSE_ERROR)  # fmt: skip
                return True
            await writer.send(exc)
            return False
        final = isinstance(message, JSONRPCResponse | JSONRPCError)
        if final and request_id is not None:
            message.id = request_id
        await writer.send(SessionMessage(message))
        if event.id and on_token is not None:
            await on_token(event.id)
        return final

    async def _drain(self, response: Http1Response) -> None:
        # The server ends the stream right after the response; reading to that end
        # keeps the connection for the next request instead of closing it.
        with anyio.move_on_after(DRAIN_TIMEOUT), contextlib.suppress(WoollamaError):
            async for _ in response.iter_bytes():
                pass

    async def _resume(
        self,
        request_id: RequestId,
        last_id: str,
        meta: ClientMessageMetadata | None,
        writer: Writer,
        attempt: int,
        retry: int | None = None,
    ) -> None:
        """Pick a request's stream up again with Last-Event-ID, as the SDK does."""
        first = meta is not None and meta.resumption_token == last_id and attempt == 0
        while attempt < MAX_RECONNECTS:
            if not first:
                await anyio.sleep((retry if retry is not None else RETRY_MS) / 1000)
            first = False
            headers = self._headers("text/event-stream")
            headers["last-event-id"] = last_id
            try:
                response = await self._send("GET", b"", headers)
            except _StreamFailed:
                attempt += 1
                continue
            try:
                if response.status >= 400 or not response.content_type.startswith(
                    "text/event-stream"
                ):
                    attempt += 1
                    continue
                new_id, new_retry = await self._events(response, request_id, meta, writer)
            finally:
                response.abandon()
            if new_id is _DONE:
                return
            attempt = 0
            last_id, retry = new_id or last_id, new_retry if new_retry is not None else retry
        await _resolve(writer, request_id,
                       "SSE stream ended and reconnection attempts were exhausted")  # fmt: skip

    # -- the standalone GET stream -------------------------------------------------

    async def listen(self, writer: Writer) -> None:
        """Messages the server sends outside any request (list_changed, say)."""
        last_id: str | None = None
        retry: int | None = None
        attempt = 0
        while attempt < MAX_RECONNECTS and self.session_id:
            headers = self._headers("text/event-stream")
            if last_id:
                headers["last-event-id"] = last_id
            try:
                response = await self._send("GET", b"", headers)
                try:
                    if response.status == 405:
                        return  # the server offers no such stream
                    if response.status >= 300:
                        raise _StreamFailed(f"GET stream answered {response.status}")
                    new_id, new_retry = await self._events(response, None, None, writer)
                finally:
                    response.abandon()
                last_id, retry = new_id or last_id, new_retry if new_retry is not None else retry
                attempt = 0
            except (_StreamFailed, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                log.debug("MCP %s: GET stream: %s", self.url, exc)
                attempt += 1
                if attempt >= MAX_RECONNECTS:
                    return
            await anyio.sleep((retry if retry is not None else RETRY_MS) / 1000)

    async def close(self) -> None:
        try:
            if self.session_id:
                with anyio.move_on_after(CLOSE_TIMEOUT), contextlib.suppress(_StreamFailed):
                    response = await self._send("DELETE", b"", self._headers())
                    await _read(response)
        finally:
            await self._pool.aclose()


_DONE = "\0done"  # no event id holds a NUL, so this cannot be one


async def _read(response: Http1Response) -> bytes:
    try:
        return await response.read()
    except WoollamaError as exc:
        raise _StreamFailed(str(exc)) from None


def _header(response: Http1Response, name: bytes) -> str | None:
    for key, value in response.raw_headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _resolve(
    writer: Writer, request_id: RequestId, message: str, code: int = CONNECTION_CLOSED
) -> None:
    """Answer a request whose response can never come (best-effort while closing)."""
    error = JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await writer.send(SessionMessage(error))


@contextlib.asynccontextmanager
async def lean_streamable_http(
    url: str, origin: Origin, headers: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[object, object]]:
    """The transport, as `mcp.Client` takes it (see `lean_origin` for `origin`)."""
    transport = LeanTransport(url, origin, headers or {})
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    async with (
        read_writer,
        read_stream,
        write_stream,
        write_reader,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(transport.write_loop, write_reader, read_writer, tg)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await transport.close()
            tg.cancel_scope.cancel()


__all__ = ["LeanTransport", "lean_origin", "lean_streamable_http"]
