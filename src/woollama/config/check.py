"""What is wrong with a loaded config, said the same way by `check-config` and start-up.

Errors are recipes that cannot work as written (an unknown provider, server or
tool_choice); warnings are what stops them working on this machine now (an unset
API key, a server command that is not installed). A message about a bundled recipe
says so, because the user did not write it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from woollama.config.models import Config, RecipeConfig
from woollama.errors import did_you_mean

# Providers that exist without an [inferencers.<name>] section.
BUILTIN_PROVIDERS = ("claude-code", "claude-agent")


@dataclass(frozen=True)
class Problem:
    severity: Literal["error", "warning"]
    file: str  # the file's path, or "recipes.toml (bundled)"
    key: str  # dotted, e.g. recipes.counter.tools
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def check(config: Config, env: Mapping[str, str] = os.environ) -> list[Problem]:
    problems: list[Problem] = []
    bundled = config.sources.get("recipes.toml") == "bundled"
    recipes_file = (
        "recipes.toml (bundled)" if bundled else config.sources.get("recipes.toml", "recipes.toml")
    )
    for name, recipe in config.recipes.items():
        problems.extend(_recipe(config, name, recipe, recipes_file, env))
    mcp_file = config.sources.get("mcp.json", "mcp.json")
    if mcp_file == "bundled":
        mcp_file = "mcp.json (bundled)"
    problems.extend(_aliases(config))
    for name, server in config.mcp.servers.items():
        if server.command is not None and _find(server.command, {**env, **server.env}) is None:
            problems.append(Problem("warning", mcp_file, f"mcpServers.{name}.command",
                                    f"{server.command!r} is not an executable file or on PATH; "
                                    f"server {name!r} will not start"))  # fmt: skip
        if server.sampling is not None and (why := _sampling_model(config, server.sampling.model)):
            problems.append(Problem("error", mcp_file, f"mcpServers.{name}.sampling.model", why))
    return problems


def _sampling_model(config: Config, model: str) -> str | None:
    """Why woollama could not answer a server's sampling with `model`, or None."""
    target = (config.aliases.get(model) or [model])[0] if "/" not in model else model
    if "/" not in target:
        return (f"{model!r} is neither <provider>/<model> nor an [aliases] name"
                f"{did_you_mean(model, config.aliases)}")  # fmt: skip
    provider = target.partition("/")[0]
    providers = [*config.inferencers, *BUILTIN_PROVIDERS]
    if provider not in providers:
        return f"unknown provider {provider!r}{did_you_mean(provider, providers)}"
    return None


def _recipe(
    config: Config, name: str, recipe: RecipeConfig, file: str, env: Mapping[str, str]
) -> list[Problem]:
    found: list[Problem] = []

    def add(severity: Literal["error", "warning"], field: str, message: str) -> None:
        found.append(Problem(severity, file, f"recipes.{name}.{field}", message))

    inferencer_name = recipe.inferencer
    if "/" not in inferencer_name:  # an alias: its first target is what the recipe runs on
        targets = config.aliases.get(inferencer_name)
        if targets is None:
            add("error", "inferencer",
                f"{inferencer_name!r} is neither <provider>/<model> nor an [aliases] name"
                f"{did_you_mean(inferencer_name, config.aliases)}")  # fmt: skip
            return found
        inferencer_name = targets[0]
    provider = inferencer_name.partition("/")[0]
    providers = [*config.inferencers, *BUILTIN_PROVIDERS]
    inferencer = config.inferencers.get(provider)
    if provider not in providers:
        hint = did_you_mean(provider, providers)
        add("error", "inferencer",
            f"unknown provider {provider!r}{hint}; known: {', '.join(providers)}")  # fmt: skip
    elif inferencer is not None and inferencer.api_key_env and not env.get(inferencer.api_key_env):
        add("warning", "inferencer",
            f"provider {provider!r} needs its API key in {inferencer.api_key_env}, "
            "which is not set")  # fmt: skip
    elif (
        provider == "claude-code" and _find(env.get("WOOLLAMA_CLAUDE_BIN") or "claude", env) is None
    ):
        add("warning", "inferencer", "the claude CLI is not installed (or set WOOLLAMA_CLAUDE_BIN)")
    servers = config.mcp.servers
    for field, tools in (("tools", recipe.tools), ("optional_tools", recipe.optional_tools)):
        for qualified in tools:
            server = qualified.partition(".")[0]
            if server not in servers:
                add("error" if field == "tools" else "warning", field,
                    f"{qualified!r}: mcp.json has no server {server!r}"
                    f"{did_you_mean(server, servers)}")  # fmt: skip
    chosen = _chosen_tool(recipe.params.get("tool_choice"))
    offered = [*recipe.tools, *recipe.optional_tools]
    model_safe = [q.replace(".", "__", 1) for q in offered]
    if chosen is not None and chosen not in offered and chosen not in model_safe:
        add("error", "params.tool_choice",
            f"names {chosen!r}, which is not one of the recipe's tools "
            f"({', '.join(offered) or 'none'}){did_you_mean(chosen, offered)}")  # fmt: skip
    return found


def _aliases(config: Config) -> list[Problem]:
    """An alias target on a provider that does not exist can never serve."""
    file = config.sources.get("inferencers.toml", "inferencers.toml")
    known = [*config.inferencers, *BUILTIN_PROVIDERS, "woollama"]
    found: list[Problem] = []
    for name, targets in config.aliases.items():
        for index, target in enumerate(targets):
            provider = target.partition("/")[0]
            if provider not in known:
                found.append(Problem("error", file, f"aliases.{name}[{index}]",
                                     f"unknown provider {provider!r}"
                                     f"{did_you_mean(provider, known)}"))  # fmt: skip
            elif provider == "woollama" and index > 0:
                found.append(Problem("warning", file, f"aliases.{name}[{index}]",
                                     "a recipe is served only as an alias's first target; "
                                     "this one is never tried"))  # fmt: skip
    return found


def _chosen_tool(choice: Any) -> str | None:
    if isinstance(choice, str):
        return None if choice in ("auto", "none", "required") else choice
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        return name if isinstance(name, str) else None
    return None


def _find(command: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(command, path=env.get("PATH"))
