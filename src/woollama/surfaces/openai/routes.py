"""The OpenAI-compatible HTTP routes: models, chat completions, embeddings, images."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from woollama.errors import NotFound, Unsupported
from woollama.observability.record import record_of
from woollama.routing.router import Router
from woollama.surfaces.disconnect import unless_gone
from woollama.surfaces.http import parse_object, read_asgi_body
from woollama.surfaces.openai.recipe import recipe_chat
from woollama.surfaces.openai.relay import fetch, relay


def _router(request: Request) -> Router:
    return request.app.state.router


async def list_models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": await _router(request).models()})


async def retrieve_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    for model in await _router(request).models():
        if model["id"] == model_id:
            return JSONResponse(model)
    raise NotFound(f"no model {model_id!r}; see GET /v1/models", code="model_not_found")


class PassThrough:
    """The hot path as a bare ASGI endpoint: the body is parsed once, `model`
    rewritten, and the backend's answer relayed as it arrives. Skipping Starlette's
    request/response wrapping here is a measurable share of a request's cost."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = parse_object(await read_asgi_body(scope, receive))
        router: Router = scope["app"].state.router
        record = record_of(scope)
        record.target(body.get("model"), None)
        provider, bare = router.route(body.get("model"))  # an alias, a provider or a recipe
        record.provider = "woollama" if provider is None else provider.name
        if provider is None:
            if self.endpoint != "/chat/completions":
                router.recipe_config(bare)  # an unknown recipe is a 404 on every route
                raise Unsupported(f"recipes answer chat completions only, not {self.endpoint}")
            response = await recipe_chat(Request(scope, receive), router, bare, body)
            await response(scope, receive, send)
            return
        body["model"] = bare
        # A whole answer (or a stream's first byte) can take minutes; a client that
        # gives up meanwhile must stop the backend's work, not leave it running to its
        # end. Once a stream flows, the relay closes it when the client leaves.
        asked = time.perf_counter()
        fetched = await unless_gone(receive, fetch(provider, self.endpoint, body))
        record.waited(asked)
        if fetched is None:
            await Response(status_code=499)(scope, receive, send)  # nobody is left to answer
            return
        await relay(fetched, provider.name, scope, receive, send)


ROUTES = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
    Route("/v1/chat/completions", PassThrough("/chat/completions"), methods=["POST"]),
    Route("/v1/embeddings", PassThrough("/embeddings"), methods=["POST"]),
    Route("/v1/images/generations", PassThrough("/images/generations"), methods=["POST"]),
]
