"""woollama's own state as read-only MCP resources (`woollama://…`)."""

from __future__ import annotations

import json
from typing import Any

import mcp.types as mt
from mcp import MCPError

from woollama.routing.router import Router

OWN_URIS = "woollama://"
MODELS = "woollama://models"
TOOLS = "woollama://tools"
RECIPE_PREFIX = "woollama://recipes/"
_JSON = "application/json"


def list_resources(router: Router) -> mt.ListResourcesResult:
    resources = [
        mt.Resource(name="models", uri=MODELS, mime_type=_JSON,
                    description="Every model and recipe woollama can route to"),
        mt.Resource(name="tools", uri=TOOLS, mime_type=_JSON,
                    description="Every downstream MCP tool and each server's health"),
    ]  # fmt: skip
    resources.extend(
        mt.Resource(
            name=f"recipe {name}",
            uri=f"{RECIPE_PREFIX}{name}",
            mime_type=_JSON,
            description=describe_recipe(router, name),
        )
        for name in router.config.recipes
    )
    return mt.ListResourcesResult(resources=resources)


def describe_recipe(router: Router, name: str) -> str:
    """A recipe's description, saying why when it cannot run now."""
    recipe = router.config.recipes[name]
    text = recipe.description or f"the {name} recipe"
    reason = router.recipe_problem(name)
    return f"{text} (unavailable: {reason})" if reason else text


def list_templates() -> mt.ListResourceTemplatesResult:
    return mt.ListResourceTemplatesResult(
        resource_templates=[
            mt.ResourceTemplate(
                name="recipe",
                uri_template=f"{RECIPE_PREFIX}{{name}}",
                mime_type=_JSON,
                description="One recipe: inferencer, system prompt, allowed tools, params",
            )
        ]
    )


async def read_resource(router: Router, uri: str) -> mt.ReadResourceResult:
    value: Any
    if uri == MODELS:
        value = await router.models()
    elif uri == TOOLS:
        registry = router.registry
        value = {
            "tools": [
                {"name": e.qualified, "model_name": e.model_name, "description": e.description}
                for e in registry.entries()
            ],
            "servers": registry.health(),
            # names a `"namespace": false` server could not have (mcp.json problems)
            "problems": list(registry.problems()),
        }
    elif uri.startswith(RECIPE_PREFIX) and uri[len(RECIPE_PREFIX) :] in router.config.recipes:
        name = uri[len(RECIPE_PREFIX) :]
        reason = router.recipe_problem(name)
        value = {
            "name": name,
            **router.config.recipes[name].model_dump(mode="json"),
            "available": reason is None,
            "reason": reason,
        }
    else:
        raise not_found(uri)
    text = json.dumps(value, indent=2)
    return mt.ReadResourceResult(
        contents=[mt.TextResourceContents(uri=uri, mime_type=_JSON, text=text)]
    )


def not_found(uri: str, message: str | None = None) -> MCPError:
    """The error for a URI nobody has: invalid params, naming the URI in `data.uri`."""
    return MCPError(
        code=mt.INVALID_PARAMS, message=message or f"no resource {uri!r}", data={"uri": uri}
    )
