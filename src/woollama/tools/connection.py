"""One supervised connection to a downstream MCP server.

The connection lives in a task of its own (the SDK's client must be entered and
left in one task) that connects, watches health with pings, and reconnects with
exponential backoff after a failure. Callers in other tasks use `call()`, which
fails fast with a clear error whenever the server is not connected.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import anyio
import httpx2
import mcp.types as mt
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from woollama.config.models import McpServerConfig
from woollama.errors import ToolFailed, ToolTimeout, ToolUnavailable
from woollama.tools.catalog import Catalog, fetch_catalog
from woollama.tools.peer import PeerDesk, Sampler
from woollama.tools.streamable_http import lean_origin, lean_streamable_http
from woollama.tools.subscriptions import Subscriptions

log = logging.getLogger(__name__)

T = TypeVar("T")
_CATALOG_CHANGED = (mt.PromptListChangedNotification, mt.ResourceListChangedNotification)
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
# Sampling with tools is declared so a server may offer them; whoever answers checks.
_SAMPLING = mt.SamplingCapability(tools=mt.SamplingToolsCapability())


class Health(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RETRYING = "retrying"
    FAILED = "failed"  # several attempts in a row failed; still retried, more slowly


@dataclass(frozen=True)
class Timing:
    connect_timeout: float = 20.0
    ping_interval: float = 2.0
    ping_timeout: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    failed_after: int = 3


class ServerConnection:
    def __init__(
        self,
        name: str,
        config: McpServerConfig,
        on_change: Callable[[ServerConnection], None],
        timing: Timing | None = None,
        sampler: Callable[[], Sampler | None] = lambda: None,
    ):
        self.name = name
        self.config = config
        self.timing = timing or Timing()
        # Log lines, sampling and questions the server sends go to the tool's caller.
        self.peers = PeerDesk(name, config.sampling, sampler)
        self._on_change = on_change
        self.health = Health.CONNECTING
        self.last_error: str | None = None
        self.tools: tuple[mt.Tool, ...] = ()
        self.catalog = Catalog()  # its prompts, resources and templates
        self.on_updated: Callable[[ServerConnection, str], None] | None = None
        self.subscriptions = Subscriptions(name, self._updated)
        self._refresh_catalog = False
        self.connects = 0
        self.connected_at: float | None = None
        self._client: Client | None = None
        self._wake = anyio.Event()
        self._refresh = False
        self._broken: str | None = None
        self.first_attempt_done = anyio.Event()

    # -- supervision ---------------------------------------------------------------

    async def run(self) -> None:
        """Connect, watch and reconnect until cancelled (by the owning lifespan)."""
        failures = 0
        while True:
            connects_before = self.connects
            error = await self._session_once()
            self._client = None
            self.connected_at = None
            # A connection that came up and later died starts the backoff afresh.
            failures = 1 if self.connects > connects_before else failures + 1
            self.last_error = error
            self.health = Health.FAILED if failures >= self.timing.failed_after else Health.RETRYING
            self.first_attempt_done.set()
            self._on_change(self)
            delay = min(
                self.timing.backoff_max, self.timing.backoff_initial * 2 ** max(failures - 1, 0)
            )
            log.warning("MCP server %s: %s; retrying in %.1fs", self.name, self.last_error, delay)
            await anyio.sleep(delay)

    async def _session_once(self) -> str:
        """One connection's life; returns why it ended."""
        self._broken = None
        deadline = anyio.current_time() + self.timing.connect_timeout
        try:
            with anyio.CancelScope(deadline=deadline) as scope:
                async with AsyncExitStack() as stack:
                    client = await stack.enter_async_context(self._client_for(stack))
                    tools = await _list_all(client)
                    self.catalog = await fetch_catalog(client)
                    await self.subscriptions.renew(client)
                    scope.deadline = math.inf
                    self._client, self.tools = client, tools
                    self.health, self.last_error = Health.CONNECTED, None
                    self.connects += 1
                    self.connected_at = time.time()
                    self.first_attempt_done.set()
                    log.info("MCP server %s connected: %d tools", self.name, len(tools))
                    self._on_change(self)
                    if Subscriptions.handshake(client):
                        return await self._watch(client)
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self.subscriptions.listen, client)
                        reason = await self._watch(client)
                        tg.cancel_scope.cancel()
                    return reason
            if scope.cancelled_caught:
                return f"no answer within {self.timing.connect_timeout:g}s of connecting"
        except Exception as exc:  # any failure of a downstream server is contained here
            cause = _first_leaf(exc)
            if isinstance(cause, OSError) and self.config.command is not None:
                if isinstance(cause, FileNotFoundError) and not _on_path(self.config):
                    return (
                        f"cannot run {self.config.command!r}: command not found "
                        f"({cause.strerror or cause})"
                    )
                return f"cannot run {self.config.command!r}: {cause.strerror or cause}"
            return _describe(exc)
        return "connection ended"

    async def _watch(self, client: Client) -> str:
        while True:
            with anyio.move_on_after(self.timing.ping_interval):
                await self._wake.wait()
            self._wake = anyio.Event()
            if self._broken:
                return self._broken
            if self._refresh:
                self._refresh = False
                self.tools = await _list_all(client, refresh=True)
                self._on_change(self)
                continue
            if self._refresh_catalog:
                self._refresh_catalog = False
                self.catalog = await fetch_catalog(client)
                self._on_change(self)
                continue
            try:
                with anyio.fail_after(self.timing.ping_timeout):
                    await self._probe(client)
            except Exception as exc:
                return f"health check failed: {_describe(exc)}"

    async def _probe(self, client: Client) -> None:
        """Prove the server is alive; on modern connections also catch tool changes.

        2026-07-28 removed `ping` and has no channel for unsolicited notifications,
        so there the tool list itself is re-read and compared.
        """
        if client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS:
            await client.send_ping()
            return
        tools = await _list_all(client, refresh=True)
        catalog = await fetch_catalog(client)
        if tools != self.tools or catalog != self.catalog:
            self.tools, self.catalog = tools, catalog
            self._on_change(self)

    def _client_for(self, stack: AsyncExitStack) -> Client:
        cfg = self.config
        peers = self.peers
        callbacks: dict[str, Any] = {
            "message_handler": self._on_message,
            "logging_callback": peers.on_log,
            # 2026-07-28 servers log only when asked to; each caller's level filters.
            "log_level": "debug",
            "sampling_callback": peers.on_sample,
            "sampling_capabilities": _SAMPLING,
            "elicitation_callback": peers.on_elicit,
            # Asked for during a call, the caller's roots (where it declared them).
            "list_roots_callback": peers.on_roots,
            "cache": None,
        }
        if cfg.command is not None:
            params = StdioServerParameters(
                command=cfg.command, args=list(cfg.args), env=dict(cfg.env) or None, cwd=cfg.cwd
            )
            return Client(params, **callbacks)
        assert cfg.url is not None
        if cfg.transport == "sse":
            return Client(sse_client(cfg.url, headers=dict(cfg.headers) or None), **callbacks)
        origin = lean_origin(cfg.url)
        if origin is not None:  # plain HTTP, no proxy: the lean transport
            return Client(lean_streamable_http(cfg.url, origin, cfg.headers), **callbacks)
        http = create_mcp_http_client(headers=dict(cfg.headers) or None)
        stack.push_async_callback(http.aclose)
        return Client(streamable_http_client(cfg.url, http_client=http), **callbacks)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mt.ToolListChangedNotification):
            self._refresh = True
            self._wake.set()
        elif isinstance(message, _CATALOG_CHANGED):
            self._refresh_catalog = True
            self._wake.set()
        elif isinstance(message, mt.ResourceUpdatedNotification):
            self.subscriptions.updated(message.params.uri)

    def _updated(self, uri: str) -> None:
        if self.on_updated is not None:
            self.on_updated(self, uri)

    def mark_broken(self, reason: str) -> None:
        if self._client is not None and self._broken is None:
            self._broken = reason
            self.health = Health.RETRYING
            self._wake.set()

    async def settled(self) -> None:
        """Return once the first connection attempt has ended (bounded by its timeout).

        Only the first attempt is waited for: after it, a server that is down is
        reported at once, never waited on.
        """
        if self.first_attempt_done.is_set():
            return
        # The attempt itself is bounded by connect_timeout; the slack covers spawning.
        with anyio.move_on_after(self.timing.connect_timeout + 1.0):
            await self.first_attempt_done.wait()

    def reason(self) -> str:
        """Why this server cannot answer now, for an error message."""
        detail = f" (last error: {self.last_error})" if self.last_error else ""
        return f"MCP server {self.name!r} is {self.health.value}{detail}; see GET /v1/tools"

    # -- calls ---------------------------------------------------------------------

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        time_limit: float | None,
        progress: ProgressFn | None = None,
    ) -> mt.CallToolResult:
        async def send(client: Client) -> mt.CallToolResult:
            with self.peers.call():
                return await client.call_tool(tool, arguments, progress_callback=progress)

        try:
            return await self.request(f"tools/call {tool}", send, time_limit=time_limit)
        except MCPError as exc:  # the server's own refusal, as a failed tool
            raise ToolFailed(f"{self.name}.{tool}: {exc}") from None

    async def request(self, what: str, send: Callable[[Client], Awaitable[T]],
                      *, time_limit: float | None) -> T:  # fmt: skip
        """Send one request (`what` names it in errors) on the live session.

        The server's own MCP errors pass through as `MCPError` so a surface can relay
        them; being down, unreachable or slow becomes the usual `ToolUnavailable` and
        `ToolTimeout`.
        """
        await self.settled()
        client = self._client
        if client is None or self.health is not Health.CONNECTED:
            raise ToolUnavailable(self.reason())
        try:
            with anyio.fail_after(time_limit):
                return await send(client)
        except TimeoutError:
            raise ToolTimeout(
                f"{what} on MCP server {self.name!r} did not answer within {time_limit:g}s "
                "(WOOLLAMA_TOOL_TIMEOUT, or the server's own timeout)"
            ) from None
        except MCPError as exc:
            if exc.code != mt.CONNECTION_CLOSED:
                raise
            self.mark_broken("connection closed")
            raise ToolUnavailable(f"MCP server {self.name!r} went away during {what}") from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError,
                httpx2.TransportError) as exc:  # fmt: skip
            self.mark_broken(_describe(exc))
            raise ToolUnavailable(
                f"MCP server {self.name!r} is unreachable: {_describe(exc)}"
            ) from None

    async def subscribe(self, uri: str, *, time_limit: float | None) -> None:
        """Subscribe to one of the server's own URIs (its updates go to `on_updated`)."""
        await self.settled()
        client = self._client
        if client is None or self.health is not Health.CONNECTED:
            raise ToolUnavailable(self.reason())
        if not self.catalog.subscribe:
            raise ToolFailed(f"MCP server {self.name!r} does not offer resource subscriptions")
        if not Subscriptions.handshake(client):
            await self.subscriptions.add_streamed(uri, time_limit)
            return
        await self.request("resources/subscribe", lambda c: c.session.subscribe_resource(uri),
                           time_limit=time_limit)  # fmt: skip
        self.subscriptions.uris.add(uri)

    async def unsubscribe(self, uri: str, *, time_limit: float | None) -> None:
        client = self._client
        if uri not in self.subscriptions.uris:
            return
        if client is None or not Subscriptions.handshake(client):
            self.subscriptions.remove_streamed(uri)
            return
        self.subscriptions.uris.discard(uri)
        await self.request("resources/unsubscribe", lambda c: c.session.unsubscribe_resource(uri),
                           time_limit=time_limit)  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transport": self.config.transport,
            "status": self.health.value,
            "last_error": self.last_error,
            "tool_count": len(self.tools),
            "connects": self.connects,
            "connected_since": self.connected_at,
        }


async def _list_all(client: Client, *, refresh: bool = False) -> tuple[mt.Tool, ...]:
    tools: list[mt.Tool] = []
    cursor: str | None = None
    for _ in range(100):  # a server that pages forever must not hang start-up
        page = await client.list_tools(cursor=cursor, cache_mode="refresh" if refresh else "use")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(tools)


def _on_path(config: McpServerConfig) -> bool:
    """Whether the server's command exists (a missing `cwd` fails the same way)."""
    assert config.command is not None
    return (
        shutil.which(config.command, path=config.env.get("PATH", os.environ.get("PATH")))
        is not None
    )


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    exc = _first_leaf(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def tool_timeout(env: Mapping[str, str] = os.environ) -> float | None:
    """`WOOLLAMA_TOOL_TIMEOUT` in seconds (default 180; zero or less disables it)."""
    raw = env.get("WOOLLAMA_TOOL_TIMEOUT", "180")
    with contextlib.suppress(ValueError):
        value = float(raw)
        return value if value > 0 else None
    log.warning("ignoring WOOLLAMA_TOOL_TIMEOUT=%r (not a number); using 180", raw)
    return 180.0
