"""Serving `woollama/<recipe>` on /v1/chat/completions, streamed or not."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from woollama.errors import WoollamaError
from woollama.recipes import Done, Event, TextDelta
from woollama.surfaces.http_common import unless_disconnected
from woollama.surfaces.services import Services


async def recipe_chat(
    request: Request, services: Services, name: str, body: dict[str, Any]
) -> Response:
    runner = services.recipe_runner(name)
    model = f"woollama/{name}"
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not body.get("stream"):
        done = await unless_disconnected(request, _final(runner.run(body, stream=False)))
        if done is None:  # nobody is left to answer
            return Response(status_code=499)
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": done.content},
                        "finish_reason": done.finish_reason,
                    }
                ],
                "usage": done.usage,
            }
        )
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    events = runner.run(body, stream=True)
    # The first event is awaited before any header is sent, so a recipe that fails
    # at once (backend down, bad key) still gets a proper HTTP status.
    first = await anext(events)
    chunks = _sse(events, first, completion_id, created, model, include_usage)
    return StreamingResponse(chunks, media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})  # fmt: skip


async def _final(events: AsyncIterator[Event]) -> Done:
    async for event in events:
        if isinstance(event, Done):
            return event
    raise AssertionError("the recipe loop ends with Done or raises")


async def _sse(
    events: AsyncIterator[Event],
    first: Event,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        event: Event | None = first
        while event is not None:
            if isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, Done):
                yield chunk({}, event.finish_reason)
                if include_usage:
                    usage_chunk = {"id": completion_id, "object": "chat.completion.chunk",
                                   "created": created, "model": model, "choices": [],
                                   "usage": event.usage}  # fmt: skip
                    yield b"data: " + json.dumps(usage_chunk).encode() + b"\n\n"
                yield b"data: [DONE]\n\n"
                return
            event = await anext(events, None)
    except WoollamaError as exc:
        yield b"data: " + json.dumps(exc.to_body()).encode() + b"\n\n"
    finally:
        await events.aclose()  # cancels the upstream request and tool calls in flight
