"""`POST /v1/responses`: the stateless OpenAI Responses API over chat completions.

`<provider>/<model>` makes one chat completion (the client's function tools go
through and come back as `function_call` items); `woollama/<recipe>` runs the
recipe's tool loop and answers with its final text. Stateful requests
(`conversation`, `previous_response_id`, `key`, `store: true`) are turns of a
conversation its backend owns (see responses_stateful).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from woollama.errors import BackendError
from woollama.observability.record import AccessRecord, record_of
from woollama.routing.router import Router
from woollama.surfaces.http import json_object, unless_disconnected
from woollama.surfaces.responses.output import envelope
from woollama.surfaces.responses.sources import provider_signals, recipe_signals
from woollama.surfaces.responses.stateful import run_turn
from woollama.surfaces.responses.stream import ResponseWriter, Signal, stream_events
from woollama.surfaces.responses.translate import ResponsePlan, plan_request

_CLIENT_TOOLS = ("tools", "tool_choice", "parallel_tool_calls")
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def create_response(request: Request) -> Response:
    plan = plan_request(await json_object(request))
    router: Router = request.app.state.router
    record = record_of(request.scope)
    record.target(plan.model, None)
    if plan.state is not None:
        return await _stateful(request, router, plan)
    signals, echo = await _signals(router, plan, record)
    writer = ResponseWriter(envelope(plan.model, echo))
    if not plan.stream:
        done = await unless_disconnected(request, _collect(writer, signals))
        if done is None:  # the client hung up; the backend request was cancelled
            return Response(status_code=499)
        return JSONResponse(writer.response)
    # The first signal is awaited before any header is sent, so a backend that
    # refuses (bad key, rate limit, down) still gets a proper HTTP status.
    first = await anext(signals, None)  # a source that raises has already closed itself
    if first is None:
        raise BackendError("the backend ended its answer before it began")
    return StreamingResponse(stream_events(writer, first, signals),
                             media_type="text/event-stream", headers=_SSE_HEADERS)  # fmt: skip


async def _stateful(request: Request, router: Router, plan: ResponsePlan) -> Response:
    # The backend owns the turn and answers it whole; the reply is then written in
    # the Responses shape, streamed or not, like any other.
    answer = await unless_disconnected(request, run_turn(router, plan))
    if answer is None:
        return Response(status_code=499)
    writer = ResponseWriter(envelope(plan.model, answer.echo(plan)))
    router.conversations.table.add_response(writer.response["id"], answer.conversation.id)
    if plan.stream:
        signals = answer.signals()
        first = await anext(signals)
        return StreamingResponse(stream_events(writer, first, signals),
                                 media_type="text/event-stream", headers=_SSE_HEADERS)  # fmt: skip
    await _collect(writer, answer.signals())
    if answer.outcome.status == "requires_action":
        writer.response["status"] = "requires_action"
    return JSONResponse(writer.response)


async def _signals(
    router: Router, plan: ResponsePlan, record: AccessRecord
) -> tuple[AsyncGenerator[Signal, None], dict[str, Any]]:
    """The answer's signals and what the response echoes; the model is resolved now,
    so an unknown provider or recipe is a 400/404 before any work starts."""
    provider, bare = router.route(plan.model)  # an alias, a provider or a recipe
    record.provider = "woollama" if provider is None else provider.name
    if provider is None:
        runner = await router.recipe_runner(bare)
        # The client's function tools are offered beside the recipe's; a call of one
        # ends the answer as a function_call item, never run here. How the model
        # chooses among them is the recipe's to say.
        client_tools = plan.chat.get("tools") or []
        chat = {k: v for k, v in plan.chat.items() if k not in _CLIENT_TOOLS}
        echo = {**plan.echo, "tool_choice": "auto"}
        run = runner.run(chat, stream=plan.stream, client_tools=client_tools)
        return recipe_signals(run), echo
    chat = {**plan.chat, "model": bare}
    return provider_signals(provider, chat, stream=plan.stream), plan.echo


async def _collect(writer: ResponseWriter, signals: AsyncGenerator[Signal, None]) -> bool:
    async with contextlib.aclosing(signals):
        async for signal in signals:
            writer.apply(signal)
    if not writer.finished:
        raise BackendError("the backend ended its answer without finishing it")
    return True


ROUTES = [Route("/v1/responses", create_response, methods=["POST"])]
