"""The hidden tool-calling loop behind `woollama/<recipe>`.

Each turn asks the recipe's model with only the allow-listed tools; tool calls are
dispatched to MCP (in parallel), their results appended, until a turn answers
without tools. The loop is an async generator of events: the HTTP surface streams
them or collects them, and cancelling the consumer cancels the upstream request
and any tool call in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from woollama.config.models import RecipeConfig
from woollama.errors import BackendError, BadRequest, WoollamaError
from woollama.providers import Provider, Upstream, upstream_error
from woollama.providers.claude_code.provider import ClaudeCodeProvider
from woollama.providers.sse import SSEDecoder
from woollama.recipes.allowlist import allowed_tools, first_tool_choice
from woollama.recipes.assembly import TurnAssembler
from woollama.recipes.events import Done, Event, TextDelta, ToolCalled, ToolResult, report
from woollama.tools import ToolEntry, ToolRegistry, result_text

log = logging.getLogger(__name__)

# What a recipe's author controls; a client's own values for these are ignored.
_RECIPE_OWNED = frozenset(
    {"model", "messages", "tools", "tool_choice", "functions", "function_call", "stream",
     "stream_options", "n", "parallel_tool_calls"}
)  # fmt: skip
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class RecipeRunner:
    def __init__(
        self,
        name: str,
        recipe: RecipeConfig,
        resolve: Callable[[str], tuple[Provider, str]],
        registry: ToolRegistry,
    ):
        self.name = name
        self.recipe = recipe
        self.provider, self.model = resolve(recipe.inferencer)
        self.registry = registry
        self.allowed: dict[str, ToolEntry] = {}

    async def prepare(self) -> RecipeRunner:
        """Resolve the allow-list now, so a missing tool fails before any answer starts."""
        self.allowed = await allowed_tools(self.name, self.recipe, self.registry)
        return self

    async def run(
        self,
        body: dict[str, Any],
        *,
        stream: bool,
        client_tools: Sequence[dict[str, Any]] = (),
    ) -> AsyncIterator[Event]:
        """`client_tools` (OpenAI function tools) are offered beside the recipe's; a
        turn that calls one ends the run with `Done.client_calls`."""
        client_names = {t["function"]["name"] for t in client_tools}
        clash = sorted(client_names & set(self.allowed))
        if clash:
            raise BadRequest(
                f"tools: {clash[0]!r} is also a tool of recipe {self.name!r}; "
                "rename the client's tool",
                param="tools",
            )
        if isinstance(self.provider, ClaudeCodeProvider) and self.allowed:
            # Claude Code runs the tool loop itself, confined to this recipe's tools.
            text, usage = await self.provider.delegate(
                model=self.model,
                system=self.recipe.system,
                messages=list(body.get("messages") or []),
                servers={n: c.config for n, c in self.registry.connections.items()},
                allowed_tools=[(e.server, e.name) for e in self.allowed.values()],
                max_turns=self.recipe.max_turns,
            )
            if stream and text:
                yield TextDelta(text)
            yield report(Done(text, "stop", usage))
            return
        messages: list[dict[str, Any]] = []
        if self.recipe.system:
            messages.append({"role": "system", "content": self.recipe.system})
        messages.extend(body.get("messages") or [])
        base = {k: v for k, v in body.items() if k not in _RECIPE_OWNED}
        params = dict(self.recipe.params)
        # A forced tool_choice applies to the first turn only; forcing every turn
        # would never let the model answer.
        first_choice = params.pop("tool_choice", None)
        if first_choice is not None:
            first_choice = first_tool_choice(first_choice, self.allowed)
        usage = {key: 0 for key in _USAGE_KEYS}
        for turn in range(1, self.recipe.max_turns + 1):
            request = {**base, **params, "model": self.model, "messages": messages}
            if self.allowed or client_tools:
                request["tools"] = [e.as_openai_tool() for e in self.allowed.values()]
                request["tools"] += client_tools
                if turn == 1 and first_choice is not None:
                    request["tool_choice"] = first_choice
            assembler = TurnAssembler()
            if stream:
                async for text in self._stream_turn(request, assembler):
                    yield TextDelta(text)
            else:
                await self._complete_turn(request, assembler)
            for key in _USAGE_KEYS:
                usage[key] += int((assembler.usage or {}).get(key) or 0)
            calls = assembler.tool_calls()
            content = "".join(assembler.content)
            if not calls:
                yield report(Done(content, assembler.finish_reason or "stop", usage, turns=turn))
                return
            mine = [c for c in calls if c["function"]["name"] in client_names]
            if mine:
                # The client runs its tools and continues with their results; recipe
                # calls of the same turn are left for the model to make again then.
                yield report(
                    Done(content, "tool_calls", usage, turns=turn, client_calls=tuple(mine))
                )
                return
            # Some engines reject a null assistant content; an empty string is accepted by all.
            messages.append({"role": "assistant", "content": content, "tool_calls": calls})
            for call in calls:
                entry = self.allowed.get(call["function"]["name"])
                tool = entry.qualified if entry else call["function"]["name"]
                yield ToolCalled(call["id"], tool, call["function"]["arguments"])
            results = await asyncio.gather(*(self._timed(call) for call in calls))
            for result in results:
                messages.append(
                    {"role": "tool", "tool_call_id": result.call_id, "content": result.text}
                )
                yield report(result)
        raise BackendError(
            f"recipe {self.name!r} stopped after max_turns={self.recipe.max_turns} turns "
            "without a final answer; raise max_turns or adjust the recipe",
            code="max_turns_exceeded",
        )

    async def _complete_turn(self, request: dict[str, Any], assembler: TurnAssembler) -> None:
        upstream = await self.provider.open("/chat/completions", request)
        try:
            raw = await upstream.read()
        finally:
            await upstream.aclose()
        if upstream.status >= 400:
            raise _turn_error(upstream, raw, self.provider.name)
        try:
            answer = json.loads(raw)
            choice = answer["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(
                f"provider {self.provider.name!r} answered something that is not a chat completion"
            ) from None
        assembler.add_chunk(
            {
                "usage": answer.get("usage"),
                "choices": [
                    {
                        "delta": {
                            "content": message.get("content"),
                            "tool_calls": [
                                {**call, "index": i}
                                for i, call in enumerate(message.get("tool_calls") or [])
                            ],
                        },
                        "finish_reason": choice.get("finish_reason"),
                    }
                ],
            }
        )

    async def _stream_turn(
        self, request: dict[str, Any], assembler: TurnAssembler
    ) -> AsyncIterator[str]:
        request = {**request, "stream": True, "stream_options": {"include_usage": True}}
        upstream = await self.provider.open("/chat/completions", request)
        try:
            if upstream.status >= 400:
                raise _turn_error(upstream, await upstream.read(), self.provider.name)
            decoder = SSEDecoder()
            async for chunk in upstream.iter_bytes():
                for event in decoder.feed(chunk):
                    if event.data == "[DONE]":
                        return
                    text = assembler.add_chunk(_parse_chunk(event.data, self.provider.name))
                    if text:
                        yield text
        finally:
            await upstream.aclose()

    async def _timed(self, call: dict[str, Any]) -> ToolResult:
        began = time.perf_counter()
        result = await self._dispatch(call)
        return dataclasses.replace(result, ms=(time.perf_counter() - began) * 1000)

    async def _dispatch(self, call: dict[str, Any]) -> ToolResult:
        name = call["function"]["name"]
        call_id = call["id"]
        entry = self.allowed.get(name)
        if entry is None:
            # The allow-list is enforced here, at dispatch, not only when offering tools.
            log.warning("recipe %s: refused call to tool %r (not allowed)", self.name, name)
            offered = ", ".join(self.allowed) or "none"
            message = f"Error: tool {name!r} is not available in this recipe; use one of: {offered}"
            return ToolResult(call_id, name, message, True)
        raw_args = call["function"]["arguments"] or "{}"
        try:
            arguments = json.loads(raw_args)
        except json.JSONDecodeError as exc:
            return ToolResult(call_id, entry.qualified,
                              f"Error: arguments are not valid JSON ({exc}); send a JSON object",
                              True)  # fmt: skip
        if not isinstance(arguments, dict):
            return ToolResult(call_id, entry.qualified,
                              "Error: arguments must be a JSON object", True)  # fmt: skip
        try:
            result = await self.registry.call(entry, arguments)
        except WoollamaError as exc:
            return ToolResult(call_id, entry.qualified, f"Error: {exc.message}", True)
        text = result_text(result)
        log.info("recipe %s: %s -> %s", self.name, entry.qualified,
                 "error" if result.is_error else "ok")  # fmt: skip
        if result.is_error:
            text = f"Error: {text}"
        return ToolResult(call_id, entry.qualified, text, bool(result.is_error),
                          result.structured_content)  # fmt: skip


def _turn_error(upstream: Upstream, raw: bytes, provider: str) -> WoollamaError:
    error = upstream_error(upstream.status, raw, provider, upstream.headers)
    if upstream.status >= 500:
        # The backend failed, not woollama: a recipe reports that as a bad gateway.
        return BackendError(f"provider {provider!r} failed during the recipe: {error.message}")
    return error


def _parse_chunk(data: str, provider: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise BackendError(f"provider {provider!r} streamed a chunk that is not JSON") from None
    if not isinstance(chunk, dict):
        raise BackendError(f"provider {provider!r} streamed a chunk that is not an object")
    if isinstance(chunk.get("error"), dict):
        message = chunk["error"].get("message") or "unknown error"
        raise BackendError(f"provider {provider!r} failed mid-stream: {message}")
    return chunk
