"""Which tools a recipe may use, resolved against the registry when it runs.

A tool the recipe needs and cannot have is an error the client sees (404 for a name
that does not exist, 503 for a server that is down), never a quieter answer without
it; only tools listed in `optional_tools` may be missing.
"""

from __future__ import annotations

import logging
from typing import Any

from woollama.config.models import RecipeConfig
from woollama.errors import BadRequest, NotFound, ToolUnavailable, WoollamaError, did_you_mean
from woollama.tools import Health, ToolEntry, ToolRegistry

log = logging.getLogger(__name__)


async def allowed_tools(
    name: str, recipe: RecipeConfig, registry: ToolRegistry
) -> dict[str, ToolEntry]:
    """The recipe's tools by the name the model sees; waits for servers still starting."""
    wanted = [*recipe.tools, *recipe.optional_tools]
    await registry.ready({qualified.partition(".")[0] for qualified in wanted})
    allowed: dict[str, ToolEntry] = {}
    for qualified in wanted:
        entry = registry.get(qualified)
        if entry is not None:
            allowed[entry.model_name] = entry
            continue
        problem = _why_missing(name, qualified, registry)
        if qualified in recipe.optional_tools:
            log.info("recipe %s: running without optional tool: %s", name, problem.message)
            continue
        raise problem
    return allowed


def _why_missing(recipe: str, qualified: str, registry: ToolRegistry) -> WoollamaError:
    server, _, tool = qualified.partition(".")
    connection = registry.connections.get(server)
    if connection is None:
        hint = did_you_mean(server, registry.connections)
        return NotFound(
            f"recipe {recipe!r} uses tool {qualified!r}, but mcp.json has no server "
            f"{server!r}{hint}",
            code="tool_not_found",
        )
    if connection.health is not Health.CONNECTED:
        return ToolUnavailable(f"recipe {recipe!r} needs {qualified}, but {connection.reason()}")
    hint = did_you_mean(qualified, (e.qualified for e in registry.entries() if e.server == server))
    return NotFound(
        f"recipe {recipe!r} uses tool {qualified!r}, but MCP server {server!r} has no tool "
        f"{tool!r}{hint}",
        code="tool_not_found",
    )


def first_tool_choice(choice: Any, allowed: dict[str, ToolEntry]) -> Any:
    """A recipe's `tool_choice` in the model's terms: `server.tool` (as config writes
    tools everywhere) or the model-safe name, bare or in OpenAI's object form."""
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": _model_name(choice, allowed)}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return {**choice, "function": {**function, "name": _model_name(function["name"], allowed)}}
    return choice


def _model_name(name: str, allowed: dict[str, ToolEntry]) -> str:
    if name in allowed:
        return name
    for entry in allowed.values():
        if entry.qualified == name:
            return entry.model_name
    known = [e.qualified for e in allowed.values()]
    raise BadRequest(
        f"the recipe's tool_choice names {name!r}, which is not one of its tools "
        f"({', '.join(known) or 'none'}){did_you_mean(name, known)}",
        code="invalid_tool_choice",
    )
