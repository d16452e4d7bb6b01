"""The lifespan that creates every long-lived client and session, and closes them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio

from woollama.config.check import check
from woollama.config.models import Config, HttpStoreRef, McpStoreRef
from woollama.config.paths import state_dir
from woollama.conversations import Conversations, HandleTable
from woollama.conversations.backends.agent_sessions import ManagedAgents
from woollama.conversations.backends.claude_resume import ClaudeResume
from woollama.conversations.backends.store_backed import StoreBacked
from woollama.conversations.handles import DB_NAME
from woollama.conversations.legacy_import import import_legacy
from woollama.conversations.stores import HttpThreadStore, McpThreadStore, ThreadStore
from woollama.providers import Provider, build_providers
from woollama.providers.claude_code.provider import ClaudeCodeProvider
from woollama.providers.managed_agents.client import ManagedAgentsClient
from woollama.routing.pool import Gate, pool_providers
from woollama.routing.router import CLAUDE_CODE, Router
from woollama.tools import ToolRegistry, tool_timeout

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_router(config: Config) -> AsyncIterator[Router]:
    """Create every client and session, supervise MCP servers, and close it all on exit.

    MCP servers connect in the background, so whatever is served answers at once.
    """
    # The same findings as `woollama check-config`, so a server started with a broken
    # recipe says so in its log rather than only when the recipe is asked for.
    for note in config.notes:
        log.info("%s", note)
    for problem in check(config):
        log.warning("config %s: %s", problem.severity, problem)
    table = HandleTable(state_dir() / DB_NAME)
    import_legacy(table, state_dir())
    providers, gates = make_providers(config)
    registry = ToolRegistry(config.mcp.servers, timeout=tool_timeout())
    store = _thread_store(config, registry)
    router = Router(
        config=config,
        providers=providers,
        registry=registry,
        conversations=Conversations(table, {}),
    )
    backends = router.conversations.backends
    if store is not None:
        backends["store-backed"] = StoreBacked(store, router.runner)
    claude = providers[CLAUDE_CODE]
    if isinstance(claude, ClaudeCodeProvider):
        backends["claude-resume"] = ClaudeResume(claude, state_dir() / "claude-sessions")
    agents = _agents_client(config)
    if agents is not None:
        backends["managed-agents"] = ManagedAgents(agents)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(registry.run, name="mcp-registry")
            yield router
            tg.cancel_scope.cancel()
    finally:
        closers = [p.aclose() for p in providers.values()]
        closers.extend(gate.aclose() for gate in gates)
        if store is not None:
            closers.append(store.aclose())
        if agents is not None:
            closers.append(agents.aclose())
        await asyncio.gather(*closers, return_exceptions=True)
        table.close()


def make_providers(config: Config) -> tuple[dict[str, Provider], list[Gate]]:
    """Every provider the config names, with the pool gates in front; start-up and a
    config reload (routing/reload.py) build them the same way."""
    providers = build_providers(config.inferencers)
    providers.setdefault(CLAUDE_CODE, ClaudeCodeProvider(CLAUDE_CODE))
    gates = pool_providers(providers, config)  # every surface reaches a device via its gate
    return providers, gates


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
