"""The OpenAI-compatible HTTP routes: models, chat completions, embeddings, images."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from woollama.errors import NotFound, Unsupported
from woollama.providers import split_model
from woollama.surfaces.http_common import json_object
from woollama.surfaces.recipe_http import recipe_chat
from woollama.surfaces.relay import relay
from woollama.surfaces.services import RECIPE_PROVIDER, Services


def _services(request: Request) -> Services:
    return request.app.state.services


async def list_models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": await _services(request).models()})


async def retrieve_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    for model in await _services(request).models():
        if model["id"] == model_id:
            return JSONResponse(model)
    raise NotFound(f"no model {model_id!r}; see GET /v1/models", code="model_not_found")


async def chat_completions(request: Request) -> Response:
    body = await json_object(request)
    provider_name, bare = split_model(body.get("model"))
    if provider_name == RECIPE_PROVIDER:
        return await recipe_chat(request, _services(request), bare, body)
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
        services.recipe_runner(bare)  # an unknown recipe is a 404 on every route
        raise Unsupported(f"recipes answer chat completions only, not {endpoint}")
    provider, bare = services.provider_for(body["model"])
    body["model"] = bare
    upstream = await provider.open(endpoint, body)
    return await relay(upstream, provider.name)


ROUTES = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/images/generations", image_generations, methods=["POST"]),
]
