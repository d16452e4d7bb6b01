"""Serving `woollama/<recipe>` on /v1/chat/completions, streamed or not."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from woollama.errors import BadRequest, WoollamaError
from woollama.providers.openai_wire import DONE, ChunkStream, completion, sse
from woollama.recipes import Done, Event, TextDelta, final_answer
from woollama.routing.router import Router
from woollama.surfaces.http import unless_disconnected


async def recipe_chat(
    request: Request, router: Router, name: str, body: dict[str, Any]
) -> Response:
    router.recipe_config(name)  # an unknown recipe is a 404 whatever the body says
    _check_messages(body.get("messages"))
    # The client's function tools are offered beside the recipe's; a call of one ends
    # the turn and goes back to the client as `tool_calls`, never run here.
    client_tools = function_tools(body.get("tools"))
    runner = await router.recipe_runner(name)
    model = f"woollama/{name}"
    if not body.get("stream"):
        run = runner.run(body, stream=False, client_tools=client_tools)
        done = await unless_disconnected(request, final_answer(run))
        if done is None:  # nobody is left to answer
            return Response(status_code=499)
        message: dict[str, Any] = {"role": "assistant", "content": done.content}
        if done.client_calls:
            message["tool_calls"] = list(done.client_calls)
        return JSONResponse(completion(model, message, done.finish_reason, done.usage))
    options = body.get("stream_options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise BadRequest("`stream_options` must be an object", param="stream_options")
    include_usage = bool(options.get("include_usage"))
    events = runner.run(body, stream=True, client_tools=client_tools)
    # The first event is awaited before any header is sent, so a recipe that fails
    # at once (backend down, bad key) still gets a proper HTTP status.
    first = await anext(events)
    chunks = _sse(events, first, ChunkStream(model, include_usage))
    return StreamingResponse(chunks, media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})  # fmt: skip


def _check_messages(messages: Any) -> None:
    # A pass-through leaves this to the backend; a recipe builds its requests from
    # these messages itself, so it must refuse what is not a list of messages.
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list of message objects",
                         param="messages")  # fmt: skip
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"messages[{index}] must be an object with a string `role`",
                             param=f"messages[{index}]")  # fmt: skip


def function_tools(tools: Any) -> list[dict[str, Any]]:
    """A client's `tools` as the recipe loop offers them: OpenAI function tools, each
    with a string name; anything else is refused naming the field."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise BadRequest("`tools` must be a list of function tools", param="tools")
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(function, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(function.get("name"), str)
            or not function["name"]
        ):
            raise BadRequest(
                f"tools[{index}] must be a function tool: "
                '{"type": "function", "function": {"name": ..., "parameters": {...}}}',
                param=f"tools[{index}]",
            )
    return tools


async def _sse(
    events: AsyncGenerator[Event, None], first: Event, head: ChunkStream
) -> AsyncIterator[bytes]:
    try:
        yield sse(head.chunk({"role": "assistant", "content": ""}))
        event: Event | None = first
        while event is not None:
            if isinstance(event, TextDelta):
                yield sse(head.chunk({"content": event.text}))
            elif isinstance(event, Done):
                if event.client_calls:
                    calls = [{"index": i, **call} for i, call in enumerate(event.client_calls)]
                    yield sse(head.chunk({"tool_calls": calls}))
                yield sse(head.chunk({}, event.finish_reason))
                if head.include_usage:
                    yield sse(head.usage_chunk(event.usage))
                yield DONE
                return
            event = await anext(events, None)
    except WoollamaError as exc:
        yield sse(exc.to_body())
    finally:
        await events.aclose()  # cancels the upstream request and tool calls in flight
