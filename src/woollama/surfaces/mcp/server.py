"""woollama as an MCP server: every downstream tool, the recipes, and a `chat` tool.

One low-level `Server` per process serves both transports (stdio for `woollama
mcp`, Streamable HTTP at `/mcp`) from the shared registry. Its tool list is
computed per request, so it follows downstream health without re-registration.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import mcp.types as mt
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from woollama import __version__
from woollama.config.models import Config
from woollama.errors import WoollamaError
from woollama.observability.observer import Observer
from woollama.recipes import Done, ToolCalled, ToolResult
from woollama.routing.reload import open_live_router
from woollama.routing.router import RECIPE_PROVIDER, Router
from woollama.surfaces.mcp.catalog import CatalogSurface
from woollama.surfaces.mcp.fast_call import FastCalls
from woollama.surfaces.mcp.peer import ClientPeers
from woollama.surfaces.mcp.resources import MODELS, RECIPE_PREFIX, TOOLS
from woollama.surfaces.mcp.scope import OWN_SERVER, Scope, request_scope
from woollama.surfaces.mcp.tool_list import ToolList, listing, wire
from woollama.tools.connection import ProgressFn
from woollama.tools.peer import Caller, calling
from woollama.tools.registry import ToolEntry

log = logging.getLogger(__name__)

CHAT_TOOL = "chat"
_CHAT_INPUT = {
    "type": "object",
    "properties": {
        "messages": {
            "type": "array",
            "description": 'OpenAI-style chat messages, e.g. [{"role": "user", "content": "hi"}]',
            "items": {"type": "object"},
        },
        "recipe": {"type": "string", "description": "a recipe name (see prompts/list)"},
        "model": {
            "type": "string",
            "description": "woollama/<recipe> or <provider>/<model>; used when recipe is absent",
        },
    },
    "required": ["messages"],
}
_CHAT_OUTPUT = {
    "type": "object",
    "properties": {"result": {"type": "string", "description": "the final answer"}},
    "required": ["result"],
    # FastMCP's mark for a primitive wrapped as {"result": ...}: its clients unwrap it to
    # a `str`, as the original woollama's `chat` returned.
    "x-fastmcp-wrap-result": True,
}


_CHAT_TOOL = wire(
    mt.Tool(
        name=CHAT_TOOL,
        description="Chat with a woollama recipe or any model; tools run inside the "
        "recipe and progress is reported while it works. Returns the final answer.",
        input_schema=_CHAT_INPUT,
        output_schema=_CHAT_OUTPUT,
    )
)


class _WoollamaMCP(Server[Any]):
    """A low-level server whose handshake-era capabilities announce `tools.listChanged`."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(
                tools_changed=True, prompts_changed=True, resources_changed=True
            ),
            experimental_capabilities,
            extensions,
        )


class McpSurface:
    """The handlers, plus fan-out of tool-list changes to every connected client."""

    def __init__(
        self,
        router: Router | Callable[[], Router],
        observer: Observer | None = None,
        scope: Scope | None = None,
    ):
        # What every client of this surface is narrowed to (`woollama mcp --servers`);
        # each HTTP request may narrow further, never widen.
        self.scope = scope or Scope()
        # A callable gives the router of the moment: a config reload replaces it.
        self._current = router if callable(router) else lambda: router
        self.observer = observer
        self.bus = InMemorySubscriptionBus()
        # Handshake-era clients are told about changes on their connection; the
        # SDK exposes that channel only through a request's session object.
        self._legacy_sessions: dict[int, Any] = {}
        # Downstream prompts, resources and templates, re-exported; subscriptions.
        self.catalog = CatalogSurface(lambda: self.router, self.bus, self._sees, lambda: self.peers)
        self.server = _WoollamaMCP(
            "woollama",
            version=__version__,
            instructions=(
                "woollama routes to AI backends and MCP tool servers. Tools and prompts "
                "named <server>__<name>, and resources <server>+<uri>, are re-exported "
                "from downstream servers; `chat` runs a recipe or any model; each recipe "
                "is also a prompt."
            ),
            # A 2026-07-28 call's Mcp-Param headers are checked against the tool's schema:
            # looked up here rather than by running a whole tools/list for each call.
            get_tool_input_schema=self._input_schema,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_prompts=self.list_prompts,
            on_get_prompt=self.catalog.get_prompt,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.catalog.list_templates,
            on_read_resource=self.catalog.read_resource,
            on_subscribe_resource=self.catalog.subscribe,
            on_unsubscribe_resource=self.catalog.unsubscribe,
            on_completion=self.catalog.complete,
            on_subscriptions_listen=self.catalog.listen,
        )
        self.router.registry.on_change(self._tools_changed)
        self.router.registry.on_catalog_change(self._catalog_changed)
        self.router.registry.on_resource_updated(self._resource_updated)
        self._pending: set[Any] = set()
        self._tool_list = ToolList()
        # Plain handshake-era tool calls on `/mcp`, answered without the SDK (fast_call.py).
        self.fast = FastCalls()
        # Declares `logging` (on initialize and server/discover); levels are per session.
        self.peers = ClientPeers()
        self.server.add_request_handler(
            "logging/setLevel", mt.SetLevelRequestParams, self.peers.set_level
        )

    @property
    def router(self) -> Router:
        return self._current()

    # -- change notifications --------------------------------------------------------

    def _remember(self, ctx: ServerRequestContext[Any, Any]) -> None:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            connection = getattr(ctx.session, "_connection", ctx.session)
            self._legacy_sessions[id(connection)] = ctx.session
            headers = getattr(ctx.request, "headers", None)
            if headers is not None:
                self.fast.remember(headers.get("mcp-session-id"), connection)

    def _tools_changed(self) -> None:
        # Called by the registry inside a connection's task; notifying may block on
        # slow clients, so it runs on its own.
        task = asyncio.get_running_loop().create_task(self._notify_changed())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def config_changed(self, before: Config, after: Config) -> None:
        """After a reload: recipes are prompts and resources, so a change to them is
        announced (tool changes come from the registry as servers connect)."""
        if before.recipes != after.recipes:
            task = asyncio.get_running_loop().create_task(self._notify_recipes_changed())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _notify_recipes_changed(self) -> None:
        await self._notify_lists(frozenset({"prompts", "resources"}))
        await self.catalog.updated_all((MODELS, RECIPE_PREFIX))

    def _catalog_changed(self, kinds: frozenset[str]) -> None:
        self._soon(self._notify_lists(kinds))

    def _resource_updated(self, uri: str) -> None:
        self._soon(self.catalog.updated(uri))

    def _soon(self, notifying: Any) -> None:
        # Called from a connection's task; notifying may block on slow clients.
        task = asyncio.get_running_loop().create_task(notifying)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _notify_lists(self, kinds: frozenset[str]) -> None:
        if "prompts" in kinds:
            await self.bus.publish(PromptsListChanged())
        if "resources" in kinds:
            await self.bus.publish(ResourcesListChanged())
        for key, session in list(self._legacy_sessions.items()):
            try:
                if "prompts" in kinds:
                    await session.send_prompt_list_changed()
                if "resources" in kinds:
                    await session.send_resource_list_changed()
            except Exception:  # a client that went away just stops hearing about changes
                self._legacy_sessions.pop(key, None)

    async def _notify_changed(self) -> None:
        await self.catalog.updated_all((TOOLS,))
        await self.bus.publish(ToolsListChanged())
        for key, session in list(self._legacy_sessions.items()):
            try:
                await session.send_tool_list_changed()
            except Exception:  # a client that went away just stops hearing about changes
                self._legacy_sessions.pop(key, None)

    # -- tools -------------------------------------------------------------------------

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        self._remember(ctx)
        # A client that lists right after start (Claude Desktop spawns `woollama mcp`
        # and lists at once) must see the tools, not an empty list.
        await self.router.registry.ready()
        scope = self._scope(ctx)
        entries = self.router.registry.entries()
        # The wire form, as the SDK would dump a ListToolsResult: built once per entry.
        tools = [self._tool_list.of(e) for e in entries if scope.allows(e.server, e.name)]
        if scope.allows(OWN_SERVER, CHAT_TOOL):
            tools.append(_CHAT_TOOL)
        self._tool_list.keep_only(entries)
        return listing(tools)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: mt.CallToolRequestParams
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        self._remember(ctx)
        arguments = dict(params.arguments or {})
        scope = self._scope(ctx)
        if params.name == CHAT_TOOL:
            if not scope.allows(OWN_SERVER, CHAT_TOOL):
                return _out_of_scope(f"{OWN_SERVER}.{CHAT_TOOL}", scope)
            with calling(self.peers.caller(ctx)):
                return await self._chat(ctx, arguments)
        registry = self.router.registry
        entry = registry.by_model_name(params.name)
        if entry is None:
            await registry.ready()  # just started: its server may still be connecting
            entry = registry.by_model_name(params.name)
        if entry is None:
            raise MCPError(code=mt.INVALID_PARAMS, message=f"unknown tool {params.name!r}")
        if not scope.allows(entry.server, entry.name):
            # Refused at dispatch, not only hidden from the listing.
            return _out_of_scope(entry.qualified, scope)

        async def work(caller: Caller, forward: ProgressFn) -> mt.CallToolResult:
            return await self.run_tool(entry, arguments, caller, forward)

        return await self.peers.run(ctx, params, work)

    async def run_tool(
        self, entry: ToolEntry, arguments: dict[str, Any], caller: Caller, progress: ProgressFn
    ) -> mt.CallToolResult:
        """Call a downstream tool for `caller`; woollama's own failures become an
        `isError` result (the SDK path and both fast paths answer through this)."""
        began = time.perf_counter()
        try:
            # The downstream's log lines, sampling and questions go to this client.
            with calling(caller):
                result = await self.router.registry.call(entry, arguments, progress=progress)
        except WoollamaError as exc:
            self._called(entry.qualified, False, began)
            return _tool_error(exc.message)
        self._called(entry.qualified, not result.is_error, began)
        # Content, structuredContent and isError pass through as the downstream gave
        # them; its _meta (which names the downstream server) does not speak for woollama.
        return mt.CallToolResult(
            content=result.content,
            structured_content=result.structured_content,
            is_error=result.is_error,
        )

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        if name == CHAT_TOOL:
            return _CHAT_INPUT
        entry = self.router.registry.by_model_name(name)
        return None if entry is None else entry.input_schema or {"type": "object"}

    def _scope(self, ctx: ServerRequestContext[Any, Any]) -> Scope:
        return self.scope.narrow(request_scope(ctx.request))

    def _called(self, tool: str, ok: bool, began: float) -> None:
        if self.observer is not None:
            self.observer.tool_called(tool, ok, (time.perf_counter() - began) * 1000)

    async def _chat(
        self, ctx: ServerRequestContext[Any, Any], arguments: dict[str, Any]
    ) -> mt.CallToolResult:
        messages = arguments.get("messages")
        if not isinstance(messages, list) or not messages:
            return _tool_error("`messages` must be a non-empty list of chat messages")
        target = arguments.get("recipe")
        model = f"{RECIPE_PROVIDER}/{target}" if target else arguments.get("model")
        if not isinstance(model, str) or not model:
            return _tool_error("give `recipe` (a recipe name) or `model` (<provider>/<model>)")
        steps = 0

        async def say(level: mt.LoggingLevel, text: str) -> None:
            await self.peers.log(ctx, level, text, "woollama")

        try:
            runner = await self.router.runner(model)
            async for event in runner.run({"messages": messages}, stream=False):
                if isinstance(event, ToolCalled):
                    steps += 1
                    await say("info", f"calling {event.tool} {event.arguments}")
                    await ctx.session.report_progress(steps, None, f"calling {event.tool}")
                elif isinstance(event, ToolResult):
                    outcome = "failed" if event.is_error else "returned"
                    await say("info", f"{event.tool} {outcome}: {event.text[:500]}")
                elif isinstance(event, Done):
                    return mt.CallToolResult(
                        content=[mt.TextContent(type="text", text=event.content)],
                        structured_content={"result": event.content},
                    )
        except WoollamaError as exc:
            await say("error", exc.message)
            return _tool_error(exc.message)
        return _tool_error("the recipe ended without an answer")

    # -- prompts, resources, completions, subscriptions: surfaces/mcp/catalog.py ------

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListPromptsResult:
        self._remember(ctx)
        return await self.catalog.list_prompts(ctx, params)

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourcesResult:
        self._remember(ctx)
        return await self.catalog.list_resources(ctx, params)

    def _sees(self, ctx: ServerRequestContext[Any, Any], server: str) -> bool:
        """Whether this request's narrowing (by server) lets it see that server's
        prompts and resources."""
        return all(server in names for names in self._scope(ctx).servers)


def _out_of_scope(tool: str, scope: Scope) -> mt.CallToolResult:
    log.warning("refused call to %s: outside this client's narrowing (%s)", tool, scope.describe())
    return _tool_error(f"tool {tool!r} is outside what this client asked for ({scope.describe()})")


def _tool_error(message: str) -> mt.CallToolResult:
    return mt.CallToolResult(content=[mt.TextContent(type="text", text=message)], is_error=True)


async def serve_stdio(config: Config, scope: Scope | None = None) -> None:
    """`woollama mcp`: the same surface over stdin/stdout, with its own registry."""
    async with open_live_router(config) as live:
        # The access log goes to stderr like every log line; stdout is the protocol's.
        surface = McpSurface(live.current, Observer.from_env(metrics=False), scope)
        live.on_swap(lambda before, after: surface.config_changed(before.config, after.config))
        server = surface.server
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
