"""The OpenAI-compatible HTTP routes: models, chat completions, embeddings, images."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from woollama.errors import Unsupported
from woollama.providers import split_model
from woollama.surfaces.http_common import json_object
from woollama.surfaces.recipe_http import recipe_chat, runner_for
from woollama.surfaces.relay import relay
from woollama.surfaces.services import Services

RECIPE_PROVIDER = "woollama"


def _services(request: Request) -> Services:
    return request.app.state.services


async def list_models(request: Request) -> Response:
    services = _services(request)
    names = list(services.providers)
    # Discovery runs concurrently; each provider bounds its own wait and a
    # provider that is down contributes nothing rather than failing the list.
    found = await asyncio.gather(*(services.providers[n].list_models() for n in names))
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
        for name, recipe in services.config.recipes.items()
    )
    return JSONResponse({"object": "list", "data": data})


async def chat_completions(request: Request) -> Response:
    body = await json_object(request)
    provider_name, bare = split_model(body.get("model"))
    if provider_name == RECIPE_PROVIDER:
        return await recipe_chat(_services(request), bare, body)
    return await _pass_through(request, "/chat/completions", body)


async def embeddings(request: Request) -> Response:
    return await _pass_through(request, "/embeddings")


async def image_generations(request: Request) -> Response:
    return await _pass_through(request, "/images/generations")


async def _pass_through(
    request: Request, endpoint: str, body: dict[str, Any] | None = None
) -> Response:
    if body is None:
        body = await json_object(request)
    services = _services(request)
    provider_name, bare = split_model(body.get("model"))
    if provider_name == RECIPE_PROVIDER:
        runner_for(services, bare)  # an unknown recipe is a 404 on every route
        raise Unsupported(f"recipes answer chat completions only, not {endpoint}")
    provider, bare = services.provider_for(body["model"])
    body["model"] = bare
    upstream = await provider.open(endpoint, body)
    return await relay(upstream, provider.name)


ROUTES = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/images/generations", image_generations, methods=["POST"]),
]
