"""The long-lived objects every surface shares, built once per process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from woollama.config.models import Config, HttpStoreRef, McpStoreRef, RecipeConfig
from woollama.config.paths import state_dir
from woollama.conversations import Conversations, HandleTable
from woollama.conversations.backends.base import StoreBacked
from woollama.conversations.backends.claude_resume import ClaudeResume
from woollama.conversations.handles import DB_NAME
from woollama.conversations.legacy_import import import_legacy
from woollama.conversations.backends.agent_sessions import ManagedAgents
from woollama.conversations.stores import HttpThreadStore, McpThreadStore, ThreadStore
from woollama.errors import BadRequest, NotFound
from woollama.providers import Provider, build_providers, split_model
from woollama.providers.claude_code.provider import ClaudeCodeProvider
from woollama.providers.managed_agents.client import ManagedAgentsClient
from woollama.recipes import RecipeRunner
from woollama.tools import ToolRegistry, tool_timeout

RECIPE_PROVIDER = "woollama"
CLAUDE_CODE = "claude-code"  # the local `claude` CLI, present without any configuration


@dataclass(frozen=True)
class Services:
    config: Config
    providers: dict[str, Provider]
    registry: ToolRegistry
    conversations: Conversations

    def provider_for(self, model: object) -> tuple[Provider, str]:
        """Resolve `<provider>/<model>` to the adapter and the backend's bare model id."""
        name, bare = split_model(model)
        return self.provider(name, model), bare

    def provider(self, name: str, model: object) -> Provider:
        """The adapter called `name`; `model` is what the client wrote, for the error."""
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise BadRequest(
                f"unknown provider {name!r} in model {model!r}; configured providers: {known} "
                "(add one as [inferencers.<name>] in inferencers.toml)",
                param="model",
                code="model_not_found",
            )
        return provider

    async def models(self) -> list[dict[str, Any]]:
        """Every provider's models and every recipe, as OpenAI model objects."""
        names = list(self.providers)
        # Discovery runs concurrently; each provider bounds its own wait and one
        # that is down contributes nothing rather than failing the list.
        found = await asyncio.gather(*(self.providers[n].list_models() for n in names))
        created = int(time.time())
        data: list[dict[str, Any]] = [
            {"id": f"{name}/{model}", "object": "model", "created": created, "owned_by": name}
            for name, models in zip(names, found, strict=True)
            for model in models
        ]
        data.extend(
            {
                "id": f"{RECIPE_PROVIDER}/{name}",
                "object": "model",
                "created": created,
                "owned_by": RECIPE_PROVIDER,
                "description": recipe.description,
            }
            for name, recipe in self.config.recipes.items()
        )
        return data

    def recipe_runner(self, name: str) -> RecipeRunner:
        recipe = self.config.recipes.get(name)
        if recipe is None:
            known = ", ".join(f"woollama/{r}" for r in self.config.recipes) or "none configured"
            raise NotFound(f"unknown recipe {name!r} (known: {known})", code="model_not_found")
        return RecipeRunner(name, recipe, self.provider_for, self.registry)

    def runner(self, model: str) -> RecipeRunner:
        """`woollama/<recipe>`, or any `<provider>/<model>` run as a recipe without tools."""
        provider, _, bare = model.partition("/")
        if provider == RECIPE_PROVIDER:
            return self.recipe_runner(bare)
        return RecipeRunner(model, RecipeConfig(inferencer=model), self.provider_for, self.registry)


@contextlib.asynccontextmanager
async def open_services(config: Config) -> AsyncIterator[Services]:
    """Create every client and session, supervise MCP servers, and close it all on exit.

    MCP servers connect in the background, so whatever is served answers at once.
    """
    table = HandleTable(state_dir() / DB_NAME)
    import_legacy(table, state_dir())
    providers = build_providers(config.inferencers)
    providers.setdefault(CLAUDE_CODE, ClaudeCodeProvider(CLAUDE_CODE))
    registry = ToolRegistry(config.mcp.servers, timeout=tool_timeout())
    store = _thread_store(config, registry)
    services = Services(
        config=config,
        providers=providers,
        registry=registry,
        conversations=Conversations(table, {}),
    )
    backends = services.conversations.backends
    if store is not None:
        backends["store-backed"] = StoreBacked(store, services.runner)
    claude = providers[CLAUDE_CODE]
    if isinstance(claude, ClaudeCodeProvider):
        backends["claude-resume"] = ClaudeResume(claude, state_dir() / "claude-sessions")
    agents = _agents_client(config)
    if agents is not None:
        backends["managed-agents"] = ManagedAgents(agents)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(registry.run, name="mcp-registry")
            yield services
            tg.cancel_scope.cancel()
    finally:
        closers = [p.aclose() for p in providers.values()]
        if store is not None:
            closers.append(store.aclose())
        if agents is not None:
            closers.append(agents.aclose())
        await asyncio.gather(*closers, return_exceptions=True)
        table.close()


def _agents_client(config: Config) -> ManagedAgentsClient | None:
    """Managed Agents live on the Anthropic API: same host and key as `anthropic`."""
    anthropic = config.inferencers.get("anthropic")
    if anthropic is None:
        return None
    return ManagedAgentsClient(
        base_url=anthropic.base_url.removesuffix("/v1"),
        api_key_env=anthropic.api_key_env or "ANTHROPIC_API_KEY",
        timeout=anthropic.timeout,
    )


def _thread_store(config: Config, registry: ToolRegistry) -> ThreadStore | None:
    ref = config.mcp.conversation_store
    if isinstance(ref, McpStoreRef):
        return McpThreadStore(registry, ref.server)
    if isinstance(ref, HttpStoreRef):
        return HttpThreadStore(ref.url)
    return None
