"""Where a response's signals come from: a provider's chat answer or a recipe's events.

Each source is an async generator that owns its upstream: closing it (the client
went away, or the stream ended) closes the backend request too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from woollama.errors import BackendError
from woollama.providers import Provider, upstream_error
from woollama.providers.sse import SSEDecoder
from woollama.recipes import Done, Event, TextDelta
from woollama.surfaces.responses.stream import (
    CallSignal,
    FinishSignal,
    ProgressSignal,
    ReasoningSignal,
    Signal,
    TextSignal,
)


async def provider_signals(
    provider: Provider, chat: dict[str, Any], *, stream: bool
) -> AsyncGenerator[Signal, None]:
    """One chat completion; raises the backend's own error if it refuses."""
    if stream:
        chat = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    upstream = await provider.open("/chat/completions", chat)
    try:
        if upstream.status >= 400:
            raw = await upstream.read()
            raise upstream_error(upstream.status, raw, provider.name, upstream.headers)
        if upstream.content_type.startswith("text/event-stream"):
            async for signal in _chat_stream(upstream.iter_bytes(), provider.name):
                yield signal
            return
        # Also the answer of a backend that ignores `stream: true`: one JSON completion.
        raw = await upstream.read()
        if "json" not in upstream.content_type:
            raise BackendError(f"provider {provider.name!r} answered "
                               f"{upstream.content_type or 'no content type'} where JSON was "
                               "expected")  # fmt: skip
        for signal in completion_signals(_json(raw, provider.name), provider.name):
            yield signal
    finally:
        await upstream.aclose()


def _json(raw: bytes | str, provider: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise BackendError(f"provider {provider!r} answered something that is not JSON") from None


def completion_signals(answer: Any, provider: str) -> list[Signal]:
    """A whole `chat.completion` as the signals its stream would have carried."""
    try:
        choice = answer["choices"][0]
        message = choice["message"]
        calls = [{**call, "index": i} for i, call in enumerate(message.get("tool_calls") or [])]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BackendError(
            f"provider {provider!r} answered something that is not a chat completion"
        ) from None
    signals = list(_delta_signals({**message, "tool_calls": calls}))
    signals.append(FinishSignal(choice.get("finish_reason") or "stop", answer.get("usage")))
    return signals


async def _chat_stream(chunks: AsyncIterator[bytes], provider: str) -> AsyncGenerator[Signal, None]:
    decoder = SSEDecoder()
    finish: str | None = None
    usage: dict[str, Any] | None = None
    async for raw in chunks:
        for event in decoder.feed(raw):
            if event.data == "[DONE]":
                yield FinishSignal(finish or "stop", usage)
                return
            chunk = _json(event.data, provider)
            if not isinstance(chunk, dict):
                raise BackendError(f"provider {provider!r} streamed a chunk that is not an object")
            if isinstance(chunk.get("error"), dict):
                message = chunk["error"].get("message") or "unknown error"
                raise BackendError(f"provider {provider!r} failed mid-stream: {message}")
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]  # OpenAI sends it last, in a chunk without choices
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                for signal in _delta_signals(choice.get("delta") or {}):
                    yield signal
                finish = choice.get("finish_reason") or finish
    if finish is None:
        # Neither [DONE] nor a finish reason: the answer was cut off, not complete.
        raise BackendError(f"provider {provider!r} ended the stream before the answer was complete")
    yield FinishSignal(finish, usage)


def _delta_signals(delta: dict[str, Any]) -> Iterator[Signal]:
    # `reasoning_content`: DeepSeek, vLLM, llama.cpp; `reasoning`: Ollama, OpenRouter.
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        yield ReasoningSignal(reasoning)
    content = delta.get("content")
    if isinstance(content, str) and content:
        yield TextSignal(content)
    for call in delta.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        arguments = function.get("arguments")
        yield CallSignal(
            index=int(call.get("index") or 0),
            call_id=call.get("id") or None,
            name=function.get("name") or None,
            arguments=arguments if isinstance(arguments, str) else "",
        )


async def recipe_signals(events: AsyncIterator[Event]) -> AsyncGenerator[Signal, None]:
    """A recipe's events; its own tool turns show only as progress, never as output
    items; calls of the client's tools end the answer as function calls."""
    streamed = False
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                streamed = True
                yield TextSignal(event.text)
            elif isinstance(event, Done):
                if not streamed and event.content:  # not streamed: the answer comes whole
                    yield TextSignal(event.content)
                # The client's own tools the model called become its function_call items.
                for index, call in enumerate(event.client_calls):
                    function = call["function"]
                    yield CallSignal(index, call["id"], function["name"], function["arguments"])
                yield FinishSignal(event.finish_reason, event.usage)
                return
            else:
                yield ProgressSignal()
    finally:
        await events.aclose()  # cancels the upstream request and tool calls in flight
