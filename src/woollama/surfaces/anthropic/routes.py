"""`POST /v1/messages` and `/v1/messages/count_tokens`: Anthropic's Messages API in.

The model is resolved as on every surface (an alias, `<provider>/<model>`,
`woollama/<recipe>`). The anthropic provider gets the request natively and its bytes
are relayed untouched; any other backend is spoken to in OpenAI chat and its answer
translated back. Every failure is answered in Anthropic's error shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from woollama.errors import BackendError, BadRequest, WoollamaError
from woollama.observability.record import note_error, record_of
from woollama.providers import Provider, Upstream, split_model, upstream_error
from woollama.providers.anthropic.provider import AnthropicProvider
from woollama.recipes import Done, Event, TextDelta, final_answer
from woollama.routing.router import RECIPE_PROVIDER, Router
from woollama.surfaces.anthropic.errors import error_event, error_response
from woollama.surfaces.anthropic.stream import ChunkTranslator, EventWriter
from woollama.surfaces.anthropic.translate import to_chat_request, to_message
from woollama.surfaces.http import json_object, unless_disconnected

log = logging.getLogger(__name__)

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# How a count was made: "template" (the backend rendered and tokenized the prompt),
# "text" (its tokenizer over the text alone), or "estimate" (no backend counted).
ESTIMATE_HEADER = "woollama-token-count"
_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and code


class _Endpoint:
    """A bare ASGI endpoint that renders every WoollamaError the Anthropic way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await json_object(request)
            response = await self.answer(request, body)
        except WoollamaError as exc:
            note_error(scope, exc)
            if exc.status >= 500:
                log.warning("POST %s -> %d: %s", request.url.path, exc.status, exc.message)
            response = error_response(exc)
        except Exception as exc:  # a bug; still answered in the shape this client reads
            log.exception("unhandled error on POST %s", request.url.path)
            bug = WoollamaError(f"internal error: {type(exc).__name__}; see woollama's log")
            response = error_response(bug)
        await response(scope, receive, send)

    async def answer(self, request: Request, body: dict[str, Any]) -> Response:
        raise NotImplementedError


def _target(request: Request, body: dict[str, Any]) -> tuple[Router, str, str]:
    """The router, the provider (or recipe) name, and the backend's bare model id."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: a non-empty string is required", param="model")
    router: Router = request.app.state.router
    provider, bare = split_model(router.resolve_model(model))
    record_of(request.scope).target(model, provider)
    return router, provider, bare


class Messages(_Endpoint):
    async def answer(self, request: Request, body: dict[str, Any]) -> Response:
        router, name, bare = _target(request, body)
        model = body["model"]
        if name == RECIPE_PROVIDER:
            return await _recipe(request, router, bare, body)
        provider: Provider = router.provider(name, model)
        alias = router.aliases.get(model) if router.aliases else None
        if alias is not None and len(alias.targets) > 1:
            # Several targets: each is tried in turn, spoken to in OpenAI chat, until
            # one answers (a single target keeps the native path below).
            provider, bare = router.provider_for(model)
        elif isinstance(provider, AnthropicProvider):
            body["model"] = bare
            beta = request.headers.get("anthropic-beta")
            return await _native(await provider.open_native("/messages", body, beta=beta))
        chat = to_chat_request(body)
        chat["model"] = bare
        upstream = await provider.open("/chat/completions", chat)
        await _raise_for_status(upstream, provider)
        if chat.get("stream"):
            translator = ChunkTranslator(EventWriter(model), provider.name)
            return _event_stream(_translated(upstream, translator))
        try:
            raw = await upstream.read()
        finally:
            await upstream.aclose()
        try:
            message = to_message(orjson.loads(raw), model)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackendError(
                f"provider {provider.name!r} answered something that is not a chat completion"
            ) from None
        return _json(message)


class CountTokens(_Endpoint):
    async def answer(self, request: Request, body: dict[str, Any]) -> Response:
        router, name, bare = _target(request, body)
        provider = None
        if name != RECIPE_PROVIDER:
            provider = router.provider(name, body["model"])
            if isinstance(provider, AnthropicProvider):
                body["model"] = bare
                beta = request.headers.get("anthropic-beta")
                upstream = await provider.open_native("/messages/count_tokens", body, beta=beta)
                return await _native(upstream)
        # count_tokens has no max_tokens; the translation checks everything else.
        chat = {**to_chat_request({"max_tokens": 1, **body}), "model": bare}
        count = getattr(provider, "count_tokens", None)
        counted = await count(chat) if count is not None else None
        if counted is not None:
            return JSONResponse({"input_tokens": counted.tokens},
                                headers={ESTIMATE_HEADER: counted.method})  # fmt: skip
        text = json.dumps([chat["messages"], chat.get("tools") or []], ensure_ascii=False)
        tokens = max(1, len(text) // _CHARS_PER_TOKEN)
        return JSONResponse(
            {"input_tokens": tokens, "estimate": True}, headers={ESTIMATE_HEADER: "estimate"}
        )


def _json(obj: Any) -> Response:
    return Response(orjson.dumps(obj), media_type="application/json")


async def _raise_for_status(upstream: Upstream, provider: Provider) -> None:
    if upstream.status < 400:
        return
    try:
        raw = await upstream.read()
    finally:
        await upstream.aclose()
    raise upstream_error(upstream.status, raw, provider.name, upstream.headers)


async def _native(upstream: Upstream) -> Response:
    """Anthropic's own answer, errors included: already in the shape the client wants."""
    if upstream.status < 400 and upstream.content_type.startswith("text/event-stream"):
        return _event_stream(_relayed(upstream))
    try:
        raw = await upstream.read()
    finally:
        await upstream.aclose()
    # An error keeps the back-off headers (retry-after, rate limits) the SDKs obey.
    headers = dict(upstream.headers) if upstream.status >= 400 else None
    return Response(
        raw, status_code=upstream.status, media_type="application/json", headers=headers
    )


def _event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=_SSE_HEADERS)


async def _relayed(upstream: Upstream) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.iter_bytes():
            yield chunk
    except WoollamaError as exc:
        # A blank line first ends any event the backend left half-written.
        yield b"\n\n" + error_event(exc)
    finally:
        await upstream.aclose()


async def _translated(upstream: Upstream, translator: ChunkTranslator) -> AsyncIterator[bytes]:
    try:
        yield translator.writer.start()
        async for chunk in upstream.iter_bytes():
            out = translator.feed(chunk)
            if out:
                yield out
            if translator.finished:
                return
        yield translator.close()
    except WoollamaError as exc:
        log.warning("stream from %s broke: %s", translator.provider, exc.message)
        yield error_event(exc)
    finally:
        await upstream.aclose()  # also when the client went away: stops the backend


async def _recipe(request: Request, router: Router, name: str, body: dict[str, Any]) -> Response:
    runner = await router.recipe_runner(name)
    chat = to_chat_request(body)
    model = body["model"]
    # The client's tools are offered beside the recipe's; calling one ends the turn
    # and goes back to the client as tool_use, never run here.
    client_tools = chat.get("tools") or []
    if not chat.get("stream"):
        run = runner.run(chat, stream=False, client_tools=client_tools)
        done = await unless_disconnected(request, final_answer(run))
        if done is None:  # nobody is left to answer
            return Response(status_code=499)
        reply = {"content": done.content, "tool_calls": list(done.client_calls)}
        completion = {"choices": [{"message": reply, "finish_reason": done.finish_reason}],
                      "usage": done.usage}  # fmt: skip
        return _json(to_message(completion, model))
    events = runner.run(chat, stream=True, client_tools=client_tools)
    # Awaited before any header goes out, so a recipe that fails at once gets a status.
    first = await anext(events)
    return _event_stream(_recipe_events(events, first, EventWriter(model)))


async def _recipe_events(
    events: AsyncGenerator[Event, None], first: Event, writer: EventWriter
) -> AsyncIterator[bytes]:
    try:
        yield writer.start()
        event: Event | None = first
        while event is not None:
            # Tool calls and results stay inside woollama; the client sees the answer.
            if isinstance(event, TextDelta) and event.text:
                yield writer.text(event.text)
            elif isinstance(event, Done):
                for call in event.client_calls:
                    function = call["function"]
                    yield writer.tool_use(call["id"], function["name"], function["arguments"])
                yield writer.finish(event.finish_reason, event.usage)
                return
            event = await anext(events, None)
    except WoollamaError as exc:
        yield error_event(exc)
    finally:
        await events.aclose()


ROUTES = [
    Route("/v1/messages", Messages(), methods=["POST"]),
    Route("/v1/messages/count_tokens", CountTokens(), methods=["POST"]),
]

__all__ = ["ESTIMATE_HEADER", "ROUTES"]
