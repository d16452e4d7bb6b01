"""The router: which provider or recipe answers a `model`, and which models exist."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from woollama.config.models import Config, RecipeConfig
from woollama.conversations import Conversations
from woollama.errors import BadRequest, NotFound, did_you_mean
from woollama.providers import Provider, split_model
from woollama.recipes import RecipeRunner
from woollama.tools import ToolRegistry

RECIPE_PROVIDER = "woollama"
CLAUDE_CODE = "claude-code"  # the local `claude` CLI, present without any configuration


@dataclass(frozen=True)
class Router:
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
            hint = did_you_mean(name, self.providers)
            raise BadRequest(
                f"unknown provider {name!r}{hint} in model {model!r}; "
                f"configured providers: {known} "
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
