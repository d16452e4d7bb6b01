"""One tool table over every downstream MCP server, shared by all surfaces."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as mt
from anyio.abc import TaskGroup

from woollama.config.models import McpServerConfig
from woollama.errors import NotFound
from woollama.tools.catalog import Catalog, CatalogView, build_view, catalog_changes
from woollama.tools.connection import ProgressFn, ServerConnection, Timing
from woollama.tools.names import exported_names
from woollama.tools.peer import Sampler

log = logging.getLogger(__name__)

# What woollama's own MCP surface offers under a bare name (its `chat` tool); an
# unprefixed server never takes it.
RESERVED_TOOL_NAMES = ("chat",)


@dataclass(frozen=True)
class ToolEntry:
    server: str
    name: str  # the tool's own name on its server
    qualified: str  # server.tool, as config and /v1/tools write it
    model_name: str  # what a model sees and calls
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, Any] | None = None

    def as_openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.model_name,
                "description": self.description or f"{self.qualified} (no description given)",
                "parameters": self.input_schema or {"type": "object", "properties": {}},
            },
        }


class ToolRegistry:
    def __init__(
        self,
        servers: Mapping[str, McpServerConfig],
        *,
        timeout: float | None,
        timing: Timing | None = None,
    ):
        self.timeout = timeout
        self.timing = timing
        # How woollama answers a server's sampling itself; set by the routing layer.
        self.sampler: Sampler | None = None
        self.connections = {
            name: ServerConnection(name, cfg, self._changed, timing, lambda: self.sampler)
            for name, cfg in servers.items()
        }
        self._by_qualified: dict[str, ToolEntry] = {}
        self._by_model_name: dict[str, ToolEntry] = {}
        self._listeners: list[Callable[[], None]] = []
        self.catalog = CatalogView()  # downstream prompts, resources, templates
        self._catalogs: dict[str, Catalog] = {}
        self._catalog_plain: list[str] = []
        self._catalog_listeners: list[Callable[[frozenset[str]], None]] = []
        self._updated_listeners: list[Callable[[str], None]] = []
        self._problems: tuple[str, ...] = ()
        self._settled_listeners: list[Callable[[ServerConnection, float], None]] = []
        self._group: TaskGroup | None = None
        self._scopes: dict[ServerConnection, anyio.CancelScope] = {}
        self._calls: dict[ServerConnection, int] = {}  # tool calls in flight, per connection
        self._drained: dict[ServerConnection, anyio.Event] = {}

    async def run(self) -> None:
        """Supervise every server until cancelled; one failing never affects another."""
        async with anyio.create_task_group() as tg:
            self._group = tg
            for connection in self.connections.values():
                self._start(connection)
            await anyio.sleep_forever()  # servers a reload adds are started in this group

    def _start(self, connection: ServerConnection) -> None:
        assert self._group is not None, "reconcile() before run()"
        scope = self._scopes[connection] = anyio.CancelScope()
        began = anyio.current_time()
        connection.on_updated = self._resource_updated

        async def supervise() -> None:
            with scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(connection.run)
                    await connection.first_attempt_done.wait()
                    for listener in self._settled_listeners:
                        listener(connection, anyio.current_time() - began)

        self._group.start_soon(supervise, name=f"mcp:{connection.name}")

    async def reconcile(self, servers: Mapping[str, McpServerConfig]) -> tuple[set[str], set[str]]:
        """Make the servers those of `servers`: start the new and changed entries, stop
        the removed and changed ones once their tool calls in flight end (bounded by the
        tool timeout); an unchanged entry keeps its connection and its process.

        Returns the names (started, stopped).
        """
        old = self.connections
        kept = {name: c for name, c in old.items() if servers.get(name) == c.config}
        fresh = {
            name: ServerConnection(name, cfg, self._changed, self.timing, lambda: self.sampler)
            for name, cfg in servers.items()
            if name not in kept
        }
        retired = [c for name, c in old.items() if name not in kept]
        self.connections = {name: kept.get(name) or fresh[name] for name in servers}
        for connection in fresh.values():
            self._start(connection)
        for connection in retired:
            assert self._group is not None
            self._group.start_soon(self._retire, connection, name=f"mcp-retire:{connection.name}")
        self._changed(None)  # a removed server's tools leave the table at once
        return set(fresh), {c.name for c in retired}

    def time_limit(self, connection: ServerConnection) -> float | None:
        """How long one request to this server may take; None: no limit."""
        # A server's own `timeout` (as Cline writes it) wins over WOOLLAMA_TOOL_TIMEOUT.
        return connection.config.timeout or self.timeout

    async def _retire(self, connection: ServerConnection) -> None:
        if self._calls.get(connection):
            drained = self._drained.setdefault(connection, anyio.Event())
            with anyio.move_on_after(self.time_limit(connection) or 180.0):
                await drained.wait()
        self._scopes.pop(connection).cancel()

    async def ready(self, servers: Iterable[str] | None = None) -> None:
        """Return once each named server (every server by default) is past its first
        connection attempt, so what it offers is known; bounded by the connect timeout.

        Whatever needs a server's tools awaits this first, so nothing runs without
        them in the moments after start-up, and nothing waits that does not need them.
        """
        names = self.connections if servers is None else servers
        pending = [
            self.connections[name]
            for name in names
            if name in self.connections and not self.connections[name].first_attempt_done.is_set()
        ]
        if not pending:
            return
        async with anyio.create_task_group() as tg:
            for connection in pending:
                tg.start_soon(connection.settled)

    async def wait_first_attempts(self, within: float) -> None:
        """Wait, at most `within` seconds, until every server has connected or failed once."""
        with anyio.move_on_after(within):
            await self.ready()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def on_settled(self, listener: Callable[[ServerConnection, float], None]) -> None:
        """Call `listener(connection, seconds)` when a server's first attempt ends, at
        start-up and for each server a reload starts."""
        self._settled_listeners.append(listener)

    def on_catalog_change(self, listener: Callable[[frozenset[str]], None]) -> None:
        """Call `listener(kinds)` when downstream prompts or resources (or templates)
        change; `kinds` holds "prompts" and/or "resources"."""
        self._catalog_listeners.append(listener)

    def on_resource_updated(self, listener: Callable[[str], None]) -> None:
        """Call `listener(uri)`, with the URI as exported, when a subscribed resource
        changes on its server."""
        self._updated_listeners.append(listener)

    def problems(self) -> tuple[str, ...]:
        """Names a `"namespace": false` server could not have (it kept its prefix)."""
        return self._problems

    def _resource_updated(self, connection: ServerConnection, uri: str) -> None:
        exported = self.catalog.exported_uri(connection.name, uri)
        for listener in self._updated_listeners:
            listener(exported)

    def _changed(self, _connection: ServerConnection | None) -> None:
        before, catalog_before = self._by_qualified, self.catalog
        self._rebuild()
        if self._by_qualified != before:  # health changes alone do not concern clients
            for listener in self._listeners:
                listener()
        changed = catalog_changes(catalog_before, self.catalog)
        if changed:
            for catalog_listener in self._catalog_listeners:
                catalog_listener(changed)

    def _rebuild(self) -> None:
        found: dict[str, tuple[str, mt.Tool]] = {}
        for server, connection in self.connections.items():
            for tool in connection.tools:
                found[f"{server}.{tool.name}"] = (server, tool)
        # Names are computed over every tool ever seen per server (the connection keeps
        # its last list while down), so a reconnect does not rename anything.
        plain = [name for name, c in self.connections.items() if not c.config.namespace]
        names, clashes = exported_names(found, plain, RESERVED_TOOL_NAMES)
        catalogs = {n: c.catalog for n, c in self.connections.items()}
        # Health changes rebuild the tool table; the catalog only when a list changed.
        if (plain, catalogs.keys()) != (self._catalog_plain, self._catalogs.keys()) or any(
            catalogs[n] is not self._catalogs[n] for n in catalogs
        ):
            self.catalog = build_view(catalogs, plain)
            self._catalogs, self._catalog_plain = catalogs, plain
        problems = (*clashes, *self.catalog.clashes)
        for problem in problems:
            if problem not in self._problems:  # said once, when it first happens
                log.warning('mcp.json: "namespace": false: %s', problem)
        self._problems = problems
        entries = [
            ToolEntry(
                server=server,
                name=tool.name,
                qualified=qualified,
                model_name=names[qualified],
                description=tool.description or "",
                input_schema=dict(tool.input_schema or {}),
                output_schema=dict(tool.output_schema) if tool.output_schema else None,
                annotations=tool.annotations.model_dump(exclude_none=True)
                if tool.annotations
                else None,
            )
            for qualified, (server, tool) in sorted(found.items())
        ]
        self._by_qualified = {e.qualified: e for e in entries}
        self._by_model_name = {e.model_name: e for e in entries}

    # -- lookups -------------------------------------------------------------------

    def entries(self) -> list[ToolEntry]:
        return list(self._by_qualified.values())

    def get(self, qualified: str) -> ToolEntry | None:
        return self._by_qualified.get(qualified)

    def by_model_name(self, name: str) -> ToolEntry | None:
        return self._by_model_name.get(name)

    def health(self) -> list[dict[str, Any]]:
        return [c.snapshot() for c in self.connections.values()]

    # -- calls ---------------------------------------------------------------------

    async def call(
        self,
        entry: ToolEntry,
        arguments: dict[str, Any],
        *,
        progress: ProgressFn | None = None,
    ) -> mt.CallToolResult:
        connection = self.connections.get(entry.server)
        if connection is None:
            raise NotFound(f"no MCP server named {entry.server!r}")
        limit = self.time_limit(connection)
        self._calls[connection] = self._calls.get(connection, 0) + 1
        try:
            return await connection.call(entry.name, arguments, time_limit=limit, progress=progress)
        finally:
            # A reload retires a changed server only once the calls made on it end.
            left = self._calls.pop(connection) - 1
            if left:
                self._calls[connection] = left
            elif (drained := self._drained.pop(connection, None)) is not None:
                drained.set()


def result_text(result: mt.CallToolResult) -> str:
    """A tool result as the text a model reads: text blocks joined, else structured JSON."""
    texts = [block.text for block in result.content if isinstance(block, mt.TextContent)]
    if texts:
        return "\n".join(texts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content)
    kinds = sorted({block.type for block in result.content})
    return f"(tool returned {', '.join(kinds)} content)" if kinds else ""
