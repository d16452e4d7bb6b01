"""The resource subscriptions woollama holds on one downstream server.

2025-era servers take `resources/subscribe` and send `notifications/resources/updated`
on the session; a new session is subscribed again. 2026-07-28 servers have no such
request: there one `subscriptions/listen` stream names every subscribed URI, and it
is reopened whenever the set changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import mcp.types as mt
from mcp import Client, MCPError
from mcp.client.subscriptions import ResourceUpdated
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from woollama.errors import ToolFailed

log = logging.getLogger(__name__)

_RETRY = 2.0  # seconds before a listen stream the server dropped is reopened


class Subscriptions:
    def __init__(self, server: str, deliver: Callable[[str], None]):
        self.server = server
        self.uris: set[str] = set()  # the server's own URIs
        self._deliver = deliver
        self._changed = anyio.Event()
        self._listening: frozenset[str] = frozenset()  # acknowledged by the stream
        self._opened = anyio.Event()
        self._error: str | None = None

    def updated(self, uri: str) -> None:
        if uri in self.uris:
            self._deliver(uri)

    @staticmethod
    def handshake(client: Client) -> bool:
        return client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS

    async def renew(self, client: Client) -> None:
        """A new session knows nothing of the old one's subscriptions."""
        if not self.handshake(client):
            return
        for uri in sorted(self.uris):
            try:
                await client.session.subscribe_resource(uri)
            except MCPError as exc:  # gone with the old session; its subscribers hear nothing
                if exc.code == mt.CONNECTION_CLOSED:
                    raise
                log.info("MCP server %s: cannot subscribe %s again: %s", self.server, uri, exc)
                self.uris.discard(uri)

    async def add_streamed(self, uri: str, time_limit: float | None) -> None:
        """Add `uri` to the listen stream and wait until the server acknowledges it."""
        self.uris.add(uri)
        self._error = None
        self._changed.set()
        try:
            with anyio.fail_after(time_limit or 30.0):
                while uri not in self._listening:
                    if self._error is not None:
                        raise ToolFailed(
                            f"MCP server {self.server!r} refused a subscription: {self._error}"
                        )
                    await self._opened.wait()
        except BaseException:
            self.uris.discard(uri)
            self._changed.set()
            raise

    def remove_streamed(self, uri: str) -> None:
        self.uris.discard(uri)
        self._changed.set()

    async def listen(self, client: Client) -> None:
        """Keep one listen stream open on `client` with the subscribed URIs, until cancelled."""
        while True:
            wanted = frozenset(self.uris)
            if not wanted:
                self._listening = wanted
                await self._wait_for_change()
                continue
            try:
                async with client.listen(resource_subscriptions=sorted(wanted)) as stream:
                    self._error = None
                    self._listening = wanted
                    self._wake_waiters()
                    async with anyio.create_task_group() as tg:

                        async def relay() -> None:
                            async for event in stream:
                                if isinstance(event, ResourceUpdated):
                                    self.updated(event.uri)
                            tg.cancel_scope.cancel()  # the server closed it: reopen

                        tg.start_soon(relay)
                        await self._wait_for_change()
                        tg.cancel_scope.cancel()
            except Exception as exc:  # a server that cannot listen: subscribers hear why
                self._error = str(exc) or type(exc).__name__
                self._listening = frozenset()
                self._wake_waiters()
                log.info("MCP server %s: subscriptions stream: %s", self.server, self._error)
                with anyio.move_on_after(_RETRY):
                    await self._wait_for_change()

    async def _wait_for_change(self) -> None:
        await self._changed.wait()
        self._changed = anyio.Event()

    def _wake_waiters(self) -> None:
        self._opened.set()
        self._opened = anyio.Event()
