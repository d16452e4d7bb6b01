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
    ListenHandler,
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
from woollama.surfaces.mcp.resources import (
    describe_recipe,
    list_resources,
    list_templates,
    read_resource,
)
from woollama.tools.connection import ELICITOR

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
}


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

    def __init__(self, router: Router | Callable[[], Router], observer: Observer | None = None):
        # A callable gives the router of the moment: a config reload replaces it.
        self._current = router if callable(router) else lambda: router
        self.observer = observer
        self.bus = InMemorySubscriptionBus()
        # Handshake-era clients are told about changes on their connection; the
        # SDK exposes that channel only through a request's session object.
        self._legacy_sessions: dict[int, Any] = {}
        self.server = _WoollamaMCP(
            "woollama",
            version=__version__,
            instructions=(
                "woollama routes to AI backends and MCP tool servers. Tools named "
                "<server>__<tool> are re-exported from downstream servers; `chat` runs a "
                "recipe or any model; each recipe is also a prompt."
            ),
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_prompts=self.list_prompts,
            on_get_prompt=self.get_prompt,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
            on_subscriptions_listen=ListenHandler(self.bus),
        )
        self.router.registry.on_change(self._tools_changed)
        self._pending: set[Any] = set()

    @property
    def router(self) -> Router:
        return self._current()

    # -- change notifications --------------------------------------------------------

    def _remember(self, ctx: ServerRequestContext[Any, Any]) -> None:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            connection = getattr(ctx.session, "_connection", ctx.session)
            self._legacy_sessions[id(connection)] = ctx.session

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
        await self.bus.publish(PromptsListChanged())
        await self.bus.publish(ResourcesListChanged())
        for key, session in list(self._legacy_sessions.items()):
            try:
                await session.send_prompt_list_changed()
                await session.send_resource_list_changed()
            except Exception:  # a client that went away just stops hearing about changes
                self._legacy_sessions.pop(key, None)

    async def _notify_changed(self) -> None:
        await self.bus.publish(ToolsListChanged())
        for key, session in list(self._legacy_sessions.items()):
            try:
                await session.send_tool_list_changed()
            except Exception:  # a client that went away just stops hearing about changes
                self._legacy_sessions.pop(key, None)

    # -- tools -------------------------------------------------------------------------

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListToolsResult:
        self._remember(ctx)
        # A client that lists right after start (Claude Desktop spawns `woollama mcp`
        # and lists at once) must see the tools, not an empty list.
        await self.router.registry.ready()
        tools = [
            mt.Tool(
                name=entry.model_name,
                description=f"{entry.description}\n\n(from MCP server {entry.server!r})".strip(),
                input_schema=entry.input_schema or {"type": "object"},
                output_schema=entry.output_schema,
                annotations=mt.ToolAnnotations.model_validate(entry.annotations)
                if entry.annotations
                else None,
            )
            for entry in self.router.registry.entries()
        ]
        tools.append(
            mt.Tool(
                name=CHAT_TOOL,
                description="Chat with a woollama recipe or any model; tools run inside the "
                "recipe and progress is reported while it works. Returns the final answer.",
                input_schema=_CHAT_INPUT,
                output_schema=_CHAT_OUTPUT,
            )
        )
        return mt.ListToolsResult(tools=tools)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: mt.CallToolRequestParams
    ) -> mt.CallToolResult:
        self._remember(ctx)
        arguments = dict(params.arguments or {})
        if params.name == CHAT_TOOL:
            return await self._chat(ctx, arguments)
        registry = self.router.registry
        entry = registry.by_model_name(params.name)
        if entry is None:
            await registry.ready()  # just started: its server may still be connecting
            entry = registry.by_model_name(params.name)
        if entry is None:
            raise MCPError(code=mt.INVALID_PARAMS, message=f"unknown tool {params.name!r}")

        async def forward(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        async def ask(message: str, schema: Any) -> mt.ElicitResult:
            return await ctx.session.elicit_form(message, schema, ctx.request_id)

        token = ELICITOR.set(ask)
        began = time.perf_counter()
        try:
            result = await registry.call(entry, arguments, progress=forward)
        except WoollamaError as exc:
            self._called(entry.qualified, False, began)
            return _tool_error(exc.message)
        finally:
            ELICITOR.reset(token)
        self._called(entry.qualified, not result.is_error, began)
        # Content, structuredContent and isError pass through as the downstream gave them;
        # its _meta (which names the downstream server) does not speak for woollama.
        return mt.CallToolResult(
            content=result.content,
            structured_content=result.structured_content,
            is_error=result.is_error,
        )

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
            await ctx.session.send_log_message(level, text, "woollama", ctx.request_id)

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

    # -- prompts -----------------------------------------------------------------------

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListPromptsResult:
        self._remember(ctx)
        return mt.ListPromptsResult(
            prompts=[
                mt.Prompt(name=name, description=describe_recipe(self.router, name))
                for name in self.router.config.recipes
            ]
        )

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: mt.GetPromptRequestParams
    ) -> mt.GetPromptResult:
        recipe = self.router.config.recipes.get(params.name)
        if recipe is None:
            raise MCPError(code=mt.INVALID_PARAMS, message=f"unknown prompt {params.name!r}")
        return mt.GetPromptResult(
            description=recipe.description or f"recipe {params.name}",
            messages=[
                mt.PromptMessage(
                    role="user", content=mt.TextContent(type="text", text=recipe.system)
                )
            ],
        )

    # -- resources ---------------------------------------------------------------------

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourcesResult:
        return list_resources(self.router)

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourceTemplatesResult:
        return list_templates()

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: mt.ReadResourceRequestParams
    ) -> mt.ReadResourceResult:
        return await read_resource(self.router, str(params.uri))


def _tool_error(message: str) -> mt.CallToolResult:
    return mt.CallToolResult(content=[mt.TextContent(type="text", text=message)], is_error=True)


async def serve_stdio(config: Config) -> None:
    """`woollama mcp`: the same surface over stdin/stdout, with its own registry."""
    async with open_live_router(config) as live:
        # The access log goes to stderr like every log line; stdout is the protocol's.
        surface = McpSurface(live.current, Observer.from_env(metrics=False))
        live.on_swap(lambda before, after: surface.config_changed(before.config, after.config))
        server = surface.server
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
