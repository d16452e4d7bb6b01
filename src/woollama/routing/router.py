"""The router: which provider or recipe answers a `model`, and which models exist."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from woollama.config.models import Config, RecipeConfig
from woollama.conversations import Conversations
from woollama.errors import BadRequest, NotFound, did_you_mean
from woollama.providers import Provider, split_model
from woollama.recipes import RecipeRunner
from woollama.routing.aliases import AliasTable
from woollama.routing.fallback import Cooldowns, FallbackProvider
from woollama.routing.pool import PooledProvider
from woollama.tools import Health, ToolRegistry

RECIPE_PROVIDER = "woollama"
ANTHROPIC = "anthropic"  # where a bare `claude-…` name goes when no alias claims it
CLAUDE_CODE = "claude-code"  # the local `claude` CLI, present without any configuration


@dataclass(frozen=True)
class Router:
    config: Config
    providers: dict[str, Provider]
    registry: ToolRegistry
    conversations: Conversations

    @cached_property
    def aliases(self) -> AliasTable:
        reserved = {*self.providers, RECIPE_PROVIDER}
        return AliasTable(self.config.aliases, self.config.alias_cooldowns, reserved)

    @cached_property
    def cooldowns(self) -> Cooldowns:
        return Cooldowns()

    def route(self, model: object) -> tuple[Provider | None, str]:
        """What answers `model`: (provider, bare model id), or (None, recipe name) for
        `woollama/<recipe>`. An alias answers with its targets in order, unless its
        first target is a recipe, which is then what it names."""
        alias = self.aliases.get(model) if self.aliases else None
        if alias is not None:
            first = alias.targets[0]
            if first.startswith(RECIPE_PROVIDER + "/"):
                return None, first.partition("/")[2]
            return FallbackProvider(alias, self.provider_for, self.cooldowns), str(model)
        name, bare = split_model(model)
        if name == RECIPE_PROVIDER:
            return None, bare
        return self.provider(name, model), bare

    def provider_for(self, model: object) -> tuple[Provider, str]:
        """Resolve `<provider>/<model>` (or an alias) to the adapter and the backend's
        bare model id; an alias's provider sets each target's id itself."""
        alias = self.aliases.get(model) if self.aliases else None
        if alias is not None:
            return FallbackProvider(alias, self.provider_for, self.cooldowns), str(model)
        name, bare = split_model(model)
        return self.provider(name, model), bare

    def provider(self, name: str, model: object) -> Provider:
        """The adapter called `name`; `model` is what the client wrote, for the error."""
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            hint = did_you_mean(name, self.providers)
            raise BadRequest(
                f"unknown provider {name!r}{hint} in model {model!r}; "
                f"configured providers: {known} "
                "(add one as [inferencers.<name>] in inferencers.toml)",
                param="model",
                code="model_not_found",
            )
        return provider

    def resolve_alias(self, model: str) -> str | None:
        """The `<provider>/<model>` an `[aliases]` entry gives `model`, or None.

        An exact key wins over globs; among globs the longest literal prefix, then
        the first in the file (routing/aliases.py).
        """
        alias = self.aliases.get(model)
        return alias.targets[0] if alias is not None else None

    def resolve_model(self, model: str) -> str:
        """What a client's `model` means: an alias's target, a bare `claude-…` name on
        the anthropic provider, or the name itself (`<provider>/<model>`, a recipe)."""
        target = self.resolve_alias(model)
        if target is not None:
            return target
        if "/" not in model and model.startswith("claude-"):
            return f"{ANTHROPIC}/{model}"
        return model

    async def models(self) -> list[dict[str, Any]]:
        """Every provider's models and every recipe, as OpenAI model objects; one
        that cannot answer now says so (`available: false` and the `reason`)."""
        names = list(self.providers)
        # Discovery runs concurrently; each provider bounds its own wait and one
        # that is down contributes nothing rather than failing the list.
        found = await asyncio.gather(*(self.providers[n].list_models() for n in names))
        created = int(time.time())
        data: list[dict[str, Any]] = []
        for name, models in zip(names, found, strict=True):
            provider = self.providers[name]
            reason = provider.unavailable()
            entries = [_model(f"{name}/{model}", created, name, reason=reason) for model in models]
            if isinstance(provider, PooledProvider):
                entries = await provider.annotate(entries, created)
            data.extend(entries)
        data.extend(
            {"id": name, "object": "model", "created": created, "owned_by": RECIPE_PROVIDER,
             "targets": list(self.config.aliases[name])}
            for name in self.aliases.names()
        )  # fmt: skip
        data.extend(
            _model(
                f"{RECIPE_PROVIDER}/{name}",
                created,
                RECIPE_PROVIDER,
                description=recipe.description,
                reason=self.recipe_problem(name),
            )
            for name, recipe in self.config.recipes.items()
        )
        return data

    def recipe_problem(self, name: str) -> str | None:
        """Why the recipe cannot run now, known without running it; None if it can.

        A server still in its first connection attempt counts as available: asking
        waits for it.
        """
        recipe = self.config.recipes[name]
        alias = self.aliases.get(recipe.inferencer)
        inferencer = alias.targets[0] if alias is not None else recipe.inferencer
        provider_name, sep, _ = inferencer.partition("/")
        if not sep:
            return f"its inferencer {inferencer!r} is neither <provider>/<model> nor an alias"
        provider = self.providers.get(provider_name)
        if provider is None:
            return f"its inferencer names unknown provider {provider_name!r}"
        if reason := provider.unavailable():
            return reason
        for qualified in recipe.tools:
            server = qualified.partition(".")[0]
            connection = self.registry.connections.get(server)
            if connection is None:
                return f"tool {qualified!r}: mcp.json has no server {server!r}"
            if not connection.first_attempt_done.is_set():
                continue
            if connection.health is not Health.CONNECTED:
                return f"tool {qualified!r}: {connection.reason()}"
            if self.registry.get(qualified) is None:
                return f"tool {qualified!r}: MCP server {server!r} has no such tool"
        return None

    def recipe_config(self, name: str) -> RecipeConfig:
        """The recipe called `name`, or a 404 that lists the known ones."""
        recipe = self.config.recipes.get(name)
        if recipe is None:
            hint = did_you_mean(name, self.config.recipes)
            known = ", ".join(f"woollama/{r}" for r in self.config.recipes) or "none configured"
            raise NotFound(
                f"unknown recipe {name!r}{hint} (known: {known})", code="model_not_found"
            )
        return recipe

    async def recipe_runner(self, name: str) -> RecipeRunner:
        """A runner for the recipe with its tools resolved: waits for servers still
        starting, and fails (404, 503) when a tool it needs cannot be had."""
        recipe = self.recipe_config(name)
        return await RecipeRunner(name, recipe, self.provider_for, self.registry).prepare()

    async def runner(self, model: str) -> RecipeRunner:
        """`woollama/<recipe>`, or any `<provider>/<model>` run as a recipe without tools."""
        provider, _, bare = model.partition("/")
        if provider == RECIPE_PROVIDER:
            return await self.recipe_runner(bare)
        return RecipeRunner(model, RecipeConfig(inferencer=model), self.provider_for, self.registry)


def _model(
    model_id: str,
    created: int,
    owner: str,
    *,
    description: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    model: dict[str, Any] = {"id": model_id, "object": "model", "created": created,
                             "owned_by": owner}  # fmt: skip
    if description is not None:
        model["description"] = description
    if reason is not None:
        model["available"] = False
        model["reason"] = reason
    return model
