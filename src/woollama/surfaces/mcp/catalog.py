"""Prompts, resources, templates, completions and subscriptions on woollama's MCP surface.

woollama's own (recipes as prompts, `woollama://` resources) come first; every
downstream server's follow under their exported names and URIs (`tools.catalog`),
and a request for one is forwarded to the server that owns it. Subscriptions are
counted per exported URI: the owning server is subscribed once, however many
clients listen, and its `resources/updated` reaches each of them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import mcp.types as mt
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, SubscriptionBus

from woollama.errors import WoollamaError
from woollama.routing.router import Router
from woollama.surfaces.mcp.peer import ClientPeers
from woollama.surfaces.mcp.resources import (
    OWN_URIS,
    describe_recipe,
    list_resources,
    list_templates,
    not_found,
    read_resource,
)
from woollama.tools.connection import ServerConnection
from woollama.tools.peer import Caller, calling
from woollama.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

Ctx = ServerRequestContext[Any, Any]
_NOT_FOUND_CODES = (mt.INVALID_PARAMS, -32002)
Visible = Callable[[Ctx, str], bool]  # may this request see that server's offerings?


class CatalogSurface:
    def __init__(
        self,
        router: Callable[[], Router],
        bus: SubscriptionBus,
        visible: Visible,
        peers: Callable[[], ClientPeers] | None = None,
    ):
        self._router = router
        # Who answers a downstream's questions during prompts/get (2026-07-28 rounds).
        self._peers = peers
        self._bus = bus
        self._visible = visible
        self._listen = ListenHandler(bus)
        # exported URI -> the keys (a handshake session, or a modern listen stream)
        # that asked for it; the owning server is subscribed while the set is non-empty.
        self._subscribers: dict[str, set[int]] = defaultdict(set)
        self._sessions: dict[int, Any] = {}  # handshake-era sessions with subscriptions

    @property
    def registry(self) -> ToolRegistry:
        return self._router().registry

    # -- prompts -------------------------------------------------------------------------

    async def list_prompts(
        self, ctx: Ctx, params: mt.PaginatedRequestParams | None
    ) -> mt.ListPromptsResult:
        router = self._router()
        await router.registry.ready()
        prompts = [
            mt.Prompt(name=name, description=describe_recipe(router, name))
            for name in router.config.recipes
        ]
        prompts.extend(
            e.item
            for name, e in router.registry.catalog.prompts.items()
            if name not in router.config.recipes and self._visible(ctx, e.server)
        )
        return mt.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        self, ctx: Ctx, params: mt.GetPromptRequestParams
    ) -> mt.GetPromptResult | mt.InputRequiredResult:
        router = self._router()
        recipe = router.config.recipes.get(params.name)
        if recipe is not None:
            return mt.GetPromptResult(
                description=recipe.description or f"recipe {params.name}",
                messages=[
                    mt.PromptMessage(
                        role="user", content=mt.TextContent(type="text", text=recipe.system)
                    )
                ],
            )
        entry = router.registry.catalog.prompts.get(params.name)
        if entry is None:
            await router.registry.ready()
            entry = router.registry.catalog.prompts.get(params.name)
        if entry is None or not self._visible(ctx, entry.server):
            raise MCPError(code=mt.INVALID_PARAMS, message=f"unknown prompt {params.name!r}")
        own, arguments, server = entry.own, params.arguments, entry.server

        async def work(caller: Caller, _progress: Any) -> mt.GetPromptResult:
            # The server's questions while it builds the prompt go to this client.
            with calling(caller):
                result = await self._forward(
                    server, "prompts/get", lambda c: c.get_prompt(own, arguments)
                )
            return mt.GetPromptResult(description=result.description, messages=result.messages)

        if self._peers is None:
            return await work(Caller(client=None), None)
        return await self._peers().run(ctx, params, work, what="prompts/get")

    # -- resources -----------------------------------------------------------------------

    async def list_resources(
        self, ctx: Ctx, params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourcesResult:
        router = self._router()
        await router.registry.ready()
        own = list_resources(router).resources
        theirs = [
            e.item
            for e in router.registry.catalog.resources.values()
            if self._visible(ctx, e.server)
        ]
        return mt.ListResourcesResult(resources=[*own, *theirs])

    async def list_templates(
        self, ctx: Ctx, params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourceTemplatesResult:
        await self.registry.ready()
        theirs = [
            e.item for e in self.registry.catalog.templates.values() if self._visible(ctx, e.server)
        ]
        return mt.ListResourceTemplatesResult(
            resource_templates=[*list_templates().resource_templates, *theirs]
        )

    async def read_resource(
        self, ctx: Ctx, params: mt.ReadResourceRequestParams
    ) -> mt.ReadResourceResult:
        uri = str(params.uri)
        if uri.startswith(OWN_URIS):
            return await read_resource(self._router(), uri)
        server, own = await self._owner(ctx, uri)
        try:
            result = await self._forward(server, "resources/read", lambda c: c.read_resource(own))
        except MCPError as exc:
            # Servers say "not found" as -32602 (2026-07-28) or the retired -32002, with
            # or without data.uri; the client hears it one way, naming the URI it knows.
            if exc.code in _NOT_FOUND_CODES:
                raise not_found(uri, exc.error.message) from None
            raise
        view = self.registry.catalog
        return mt.ReadResourceResult(
            contents=[
                c.model_copy(update={"uri": view.exported_uri(server, str(c.uri))})
                for c in result.contents
            ]
        )

    async def _owner(self, ctx: Ctx, uri: str) -> tuple[str, str]:
        owner = self.registry.catalog.owner(uri)
        if owner is None:
            await self.registry.ready()
            owner = self.registry.catalog.owner(uri)
        if owner is None or not self._visible(ctx, owner[0]):
            raise not_found(uri)
        return owner

    # -- completions ---------------------------------------------------------------------

    async def complete(self, ctx: Ctx, params: mt.CompleteRequestParams) -> mt.CompleteResult:
        """Completions come from the server that owns the prompt or template; woollama's
        own (recipes, `woollama://recipes/{name}`) have none to give."""
        view = self.registry.catalog
        ref = params.ref
        owned: tuple[str, str] | None
        if isinstance(ref, mt.PromptReference):
            entry = view.prompts.get(ref.name)
            owned = (entry.server, entry.own) if entry is not None else None
        else:
            owned = view.template_owner(ref.uri) or view.owner(ref.uri)
        connection = self.registry.connections.get(owned[0]) if owned else None
        if owned is None or connection is None or not self._visible(ctx, owned[0]):
            return _no_completions()
        if not connection.catalog.completions:
            return _no_completions()
        server, own = owned
        theirs: mt.PromptReference | mt.ResourceTemplateReference = (
            ref.model_copy(update={"name": own})
            if isinstance(ref, mt.PromptReference)
            else ref.model_copy(update={"uri": own})
        )
        argument = {"name": params.argument.name, "value": params.argument.value}
        context = params.context.arguments if params.context else None
        result = await self._forward(
            server, "completion/complete", lambda c: c.complete(theirs, argument, context)
        )
        return mt.CompleteResult(completion=result.completion)

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(self, ctx: Ctx, params: mt.SubscribeRequestParams) -> mt.EmptyResult:
        key = _session_key(ctx)
        self._sessions[key] = ctx.session
        await self._add(ctx, str(params.uri), key)
        return mt.EmptyResult()

    async def unsubscribe(self, ctx: Ctx, params: mt.UnsubscribeRequestParams) -> mt.EmptyResult:
        await self._drop(str(params.uri), _session_key(ctx))
        return mt.EmptyResult()

    async def listen(
        self, ctx: Ctx, params: mt.SubscriptionsListenRequestParams
    ) -> mt.SubscriptionsListenResult:
        """2026-07-28 `subscriptions/listen`: the stream's resource URIs are subscribed
        downstream for as long as it stays open. The acknowledgment names only the
        URIs that can be served; one nobody has, or whose server cannot subscribe, is
        left out of it rather than failing the whole stream."""
        key = id(ctx)  # this one stream
        added: list[str] = []
        try:
            for uri in params.notifications.resource_subscriptions or ():
                try:
                    await self._add(ctx, uri, key)
                except MCPError as exc:
                    log.info("listen stream: not subscribing %s: %s", uri, exc.error.message)
                    continue
                added.append(uri)
            if added != list(params.notifications.resource_subscriptions or ()):
                served = params.notifications.model_copy(
                    update={"resource_subscriptions": added or None}
                )
                params = params.model_copy(update={"notifications": served})
            return await self._listen(ctx, params)
        finally:
            for uri in added:
                await self._drop(uri, key)

    async def _add(self, ctx: Ctx, uri: str, key: int) -> None:
        if not uri.startswith(OWN_URIS):
            server, own = await self._owner(ctx, uri)
            if not self._subscribers.get(uri):
                connection = self._connection(server)
                limit = self.registry.time_limit(connection)
                await self._guard(lambda: connection.subscribe(own, time_limit=limit))
        self._subscribers[uri].add(key)

    async def _drop(self, uri: str, key: int) -> None:
        keys = self._subscribers.get(uri)
        if keys is None or key not in keys:
            return
        keys.discard(key)
        if keys:
            return
        del self._subscribers[uri]
        owner = None if uri.startswith(OWN_URIS) else self.registry.catalog.owner(uri)
        connection = self.registry.connections.get(owner[0]) if owner else None
        if owner is not None and connection is not None:
            limit = self.registry.time_limit(connection)
            try:
                await connection.unsubscribe(owner[1], time_limit=limit)
            except (WoollamaError, MCPError) as exc:  # it is gone or forgot already
                log.info("unsubscribing %s: %s", uri, exc)

    async def updated(self, uri: str) -> None:
        """Tell everyone subscribed to `uri` (as exported) that it changed."""
        await self._bus.publish(ResourceUpdated(uri=uri))  # modern listen streams filter
        for key in list(self._subscribers.get(uri, ())):
            session = self._sessions.get(key)
            if session is None:
                continue
            try:
                await session.send_resource_updated(uri)
            except Exception:  # a client that went away stops hearing; its count goes
                self._sessions.pop(key, None)
                await self._drop(uri, key)

    async def updated_all(self, prefixes: tuple[str, ...]) -> None:
        """`updated` for every subscribed URI of woollama's own that starts so."""
        for uri in [u for u in self._subscribers if u.startswith(prefixes)]:
            await self.updated(uri)

    # -- forwarding ----------------------------------------------------------------------

    def _connection(self, server: str) -> ServerConnection:
        connection = self.registry.connections.get(server)
        if connection is None:
            raise MCPError(code=mt.INVALID_PARAMS, message=f"no MCP server named {server!r}")
        return connection

    async def _forward(self, server: str, what: str, send: Callable[[Any], Awaitable[Any]]) -> Any:
        connection = self._connection(server)
        return await self._guard(
            lambda: connection.request(what, send, time_limit=self.registry.time_limit(connection))
        )

    @staticmethod
    async def _guard(run: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await run()
        except WoollamaError as exc:  # down, unreachable, slow, or cannot subscribe
            raise MCPError(code=mt.INTERNAL_ERROR, message=exc.message) from None


def _session_key(ctx: Ctx) -> int:
    return id(getattr(ctx.session, "_connection", ctx.session))


def _no_completions() -> mt.CompleteResult:
    return mt.CompleteResult(completion=mt.Completion(values=[], total=0, has_more=False))
