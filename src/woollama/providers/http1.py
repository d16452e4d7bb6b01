"""A lean HTTP/1.1 client for the pass-through's POSTs to plain-HTTP backends.

aiohttp spends about 70 µs of CPU on a request (bench/client_cost.py), most of it on
what this path never uses: cookies, redirects, tracing, compression, proxies, TLS.
Local backends (Ollama, llama.cpp, vLLM) speak plain HTTP on loopback or a LAN,
where that cost is the larger part of what the router adds. This keeps keep-alive
connections per backend, writes a request in one write and parses the answer with
httptools (uvicorn's parser), for about a seventh of the CPU. Everything else
(HTTPS, a proxy, credentials in the URL, discovery, the native adapters) stays on
aiohttp.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson

from woollama.errors import BackendError, BackendTimeout, WoollamaError
from woollama.providers.base import NO_HEADERS, backoff_headers

KEEPALIVE_S = 15.0  # an idle connection is closed after this long, as aiohttp does
_STARTS_KEPT = 64  # request heads remembered per backend (endpoint x headers)
_HIGH_WATER = 256 * 1024  # a stream buffered past this stops reading from the backend


class Origin:
    """Where a pass-through POST goes, when the lean client can take it: plain HTTP,
    no proxy, no credentials in the URL."""

    __slots__ = ("host", "host_header", "path", "port")

    def __init__(self, host: str, port: int, host_header: str, path: str):
        self.host, self.port, self.host_header, self.path = host, port, host_header, path

    @classmethod
    def of(cls, base_url: str) -> Origin | None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or "@" in parts.netloc:
            return None
        try:
            port = parts.port or 80
        except ValueError:
            return None
        path = parts.path.rstrip("/")
        if parts.query:
            return None  # a query would have to follow each endpoint; aiohttp handles it
        return cls(parts.hostname, port, parts.netloc, path)


class Http1Pool:
    """Keep-alive connections to one backend, newest reused first."""

    def __init__(
        self,
        origin: Origin,
        *,
        provider: str,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        subject: str | None = None,
        hint: str = "; is it running, and is its base_url right?",
    ):
        self._origin = origin
        self._provider = provider
        # How the pool's own errors name the backend, and what they suggest when it is
        # unreachable: an MCP server's client words them for its server.
        self._subject = subject or f"provider {provider!r}"
        self._hint = hint
        self._base_url = base_url
        self._connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: collections.deque[tuple[_Connection, float]] = collections.deque()
        self._all: set[_Connection] = set()
        self._sweeping: asyncio.TimerHandle | None = None
        self._starts: dict[tuple[object, ...], bytes] = {}
        self._closed = False

    async def post(
        self, endpoint: str, body: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> Http1Response:
        """Send a POST (or another `method`: MCP's GET and DELETE) and wait for the
        answer's status and headers; transport failures are woollama's 502/504.

        A POST is not sent twice: like aiohttp, this reuses only a connection that
        is still open, and a backend that closes one just as it is reused is a 502.
        """
        head = self._head(endpoint, body, headers, method)
        loop = asyncio.get_running_loop()
        conn = None
        while self._idle:
            candidate, _ = self._idle.pop()
            if candidate.usable():
                conn = candidate
                break
        if conn is None:
            conn = await self._connect(loop)
        return await conn.send(head, body, loop)

    def _head(self, endpoint: str, body: bytes, headers: Mapping[str, str], method: str) -> bytes:
        key = (method, endpoint, *headers.items())
        start = self._starts.get(key)
        if start is None:
            start = self._starts[key] = self._start(endpoint, headers, method)
            if len(self._starts) > _STARTS_KEPT:  # keys rotated at run time, say
                self._starts.clear()
        return b"%scontent-length: %d\r\n\r\n" % (start, len(body))

    def _start(self, endpoint: str, headers: Mapping[str, str], method: str) -> bytes:
        """The request line and headers, but for the length: the same on every call."""
        for value in headers.values():
            if "\r" in value or "\n" in value:
                # Only a key from the environment can hold one; it must not add headers.
                raise BackendError(f"{self._subject}: a header has a line break")
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        origin = self._origin
        try:
            return (
                f"{method} {origin.path}{endpoint} HTTP/1.1\r\n"
                f"host: {origin.host_header}\r\n{lines}"
            ).encode("latin-1")
        except UnicodeEncodeError:
            raise BackendError(
                f"{self._subject}: a header is not Latin-1 (an API key, say)"
            ) from None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        if self._closed:
            raise BackendError(f"{self._subject} is closed (the config was reloaded)")
        origin = self._origin
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self), origin.host, origin.port
                )
        except TimeoutError:
            raise BackendTimeout(
                f"{self._subject} did not accept a connection within "
                f"{self._connect_timeout:g} s at {self._base_url}"
            ) from None
        except OSError as exc:
            raise BackendError(
                f"{self._subject} is unreachable at {self._base_url} ({exc}){self._hint}"
            ) from None
        self._all.add(conn)
        return conn

    def release(self, conn: _Connection) -> None:
        if self._closed:
            conn.close()
            return
        loop = asyncio.get_running_loop()
        self._idle.append((conn, loop.time()))
        if self._sweeping is None:
            self._sweeping = loop.call_later(KEEPALIVE_S, self._sweep)

    def forget(self, conn: _Connection) -> None:
        self._all.discard(conn)

    def _sweep(self) -> None:
        self._sweeping = None
        loop = asyncio.get_running_loop()
        cutoff = loop.time() - KEEPALIVE_S
        while self._idle and self._idle[0][1] <= cutoff:
            self._idle.popleft()[0].close()
        if self._idle:
            self._sweeping = loop.call_at(self._idle[0][1] + KEEPALIVE_S, self._sweep)

    async def aclose(self) -> None:
        self._closed = True
        if self._sweeping is not None:
            self._sweeping.cancel()
        self._idle.clear()
        for conn in list(self._all):
            conn.close()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; it carries one request at a time."""

    def __init__(self, pool: Http1Pool):
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._response: Http1Response | None = None
        self._lost = False

    def usable(self) -> bool:
        return not self._lost and self._transport is not None and not self._transport.is_closing()

    async def send(
        self, head: bytes, body: bytes, loop: asyncio.AbstractEventLoop
    ) -> Http1Response:
        assert self._transport is not None
        response = self._response = Http1Response(self, self._pool, loop)
        self._transport.writelines((head, body))  # one writev
        try:
            await response.head()
        except BaseException:
            # Cancelled (the client left) or failed: the backend must see the request
            # end, and the connection is no use for another.
            response.abandon()
            raise
        return response

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def pause(self, paused: bool) -> None:
        if self._transport is not None and not self._lost:
            if paused:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        response = self._response
        if response is None:  # nothing was asked: the connection is out of step
            self.close()
            return
        response.last_read = response.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._response = None
            response.fail(BackendError(f"{response.provider}: malformed HTTP answer ({exc})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._pool.forget(self)
        response, self._response = self._response, None
        if response is not None:
            response.lost(exc)

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._response is not None
        self._response.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._response is not None
        self._response.headers_done(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        assert self._response is not None
        self._response.body(body)

    def on_message_complete(self) -> None:
        response, self._response = self._response, None
        assert response is not None
        keep = self._parser.should_keep_alive()
        response.complete()
        if keep and self.usable():
            self._pool.release(self)
        else:
            self.close()


class Http1Response:
    """An answer being read, seen through the `Upstream` protocol."""

    def __init__(self, conn: _Connection, pool: Http1Pool, loop: asyncio.AbstractEventLoop):
        self.status = 0
        self.content_type = ""
        self.headers: Mapping[str, str] = NO_HEADERS
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.provider = pool._provider
        self.loop = loop
        self.last_read = 0.0  # loop time of the last bytes from the backend; 0: none yet
        self._conn: _Connection | None = conn
        self._timeout = pool.read_timeout
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._streaming = False
        self._paused = False
        self._got_head = False
        self._done = False
        self._until_eof = False
        self._error: WoollamaError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = loop.call_later(self._timeout, self._tick)

    # -- the Upstream protocol -------------------------------------------------------

    async def read(self) -> bytes:
        while not self._done:
            if self._error is not None:
                raise self._error
            await self._wait()
        if self._error is not None:
            raise self._error
        return b"".join(self._chunks)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        self._streaming = True
        while True:
            if self._chunks:
                chunks, self._chunks, self._buffered = self._chunks, [], 0
                if self._paused:
                    self._paused = False
                    if self._conn is not None:
                        self._conn.pause(False)
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
                continue
            if self._error is not None:
                raise self._error
            if self._done:
                return
            await self._wait()

    async def aclose(self) -> None:
        self.abandon()

    # -- driven by the connection ----------------------------------------------------

    async def head(self) -> None:
        while not self._got_head:
            if self._error is not None:
                raise self._error
            await self._wait()

    def headers_done(self, status: int) -> None:
        self.status = status
        self._got_head = True
        framed = False
        for name, value in self.raw_headers:
            lower = name.lower()
            if lower == b"content-type":
                self.content_type = value.decode("latin-1")
            elif lower in (b"content-length", b"transfer-encoding"):
                framed = True
        self._until_eof = not framed
        if status >= 400:
            self.headers = backoff_headers(
                {k.decode("latin-1"): v.decode("latin-1") for k, v in self.raw_headers}
            )
        self._wake()

    def body(self, data: bytes) -> None:
        self._chunks.append(data)
        if self._streaming:
            self._buffered += len(data)
            if self._buffered > _HIGH_WATER and not self._paused and self._conn is not None:
                self._paused = True
                self._conn.pause(True)
            self._wake()

    def complete(self) -> None:
        self._done = True
        self._conn = None
        self._stop_timer()
        self._wake()

    def lost(self, exc: Exception | None) -> None:
        self._conn = None
        if self._done or self._error is not None:
            return
        if self._got_head and self._until_eof and exc is None:
            self._done = True  # an answer without a length ends where the connection does
        else:
            detail = str(exc) if exc else "Server disconnected"
            self._error = BackendError(
                f"{self.provider}: stream ended abruptly ({detail})"
                if self._streaming
                else f"{self.provider}: connection lost while reading ({detail})"
                if self._got_head
                else f"provider {self.provider!r} failed: {detail}"
            )
        self._stop_timer()
        self._wake()

    def fail(self, error: WoollamaError) -> None:
        if not self._done and self._error is None:
            self._error = error
        self._conn = None
        self._stop_timer()
        self._wake()

    def abandon(self) -> None:
        """Give up on the answer: a connection still carrying it is closed."""
        conn, self._conn = self._conn, None
        self._stop_timer()
        if conn is not None and not self._done:
            self._done = True
            conn.close()

    # -- waiting ---------------------------------------------------------------------

    def _wait(self) -> asyncio.Future[None]:
        self._waiter = self.loop.create_future()
        return self._waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _tick(self) -> None:
        # One timer per request, moved on when it fires rather than re-armed on every
        # read: the read timeout is the longest silence between two reads.
        if self._done:
            self._timer = None
            return
        quiet_until = self.last_read + self._timeout
        if quiet_until > self.loop.time():
            self._timer = self.loop.call_at(quiet_until, self._tick)
            return
        self._timer = None
        conn, self._conn = self._conn, None
        self.fail(self._timed_out())
        if conn is not None:
            conn.close()

    def _timed_out(self) -> WoollamaError:
        if not self._got_head:
            return BackendTimeout(
                f"provider {self.provider!r} did not answer within {self._timeout:g} s"
            )
        if self._streaming:
            return BackendTimeout(f"{self.provider}: stream stalled past the read timeout")
        return BackendTimeout(f"{self.provider}: timed out reading the answer")

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def encode_json(body: dict[str, Any]) -> bytes:
    """The request body as JSON bytes (orjson; the standard library for what orjson
    cannot write, such as an integer past 64 bits)."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(body).encode()
