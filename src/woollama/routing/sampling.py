"""woollama answering a downstream MCP server's `sampling/createMessage` with its own models.

Only for a server whose mcp.json entry opts in (`"sampling": {"model": …}`), and only
when the tool's caller cannot sample (tools/peer.py decides). The request becomes one
non-streamed chat completion on the routed provider.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import mcp.types as mt

from woollama.errors import BackendError, BadRequest
from woollama.providers import upstream_error
from woollama.routing.router import RECIPE_PROVIDER, Router
from woollama.tools.peer import Sampler, SamplingAnswer

log = logging.getLogger(__name__)

_STOP_REASONS = {"stop": "endTurn", "length": "maxTokens", "tool_calls": "toolUse"}


def sampler(current: Callable[[], Router]) -> Sampler:
    """The answerer the registry hands to its connections; `current` gives the router
    of the moment (a config reload replaces it)."""

    async def answer(configured: str, params: mt.CreateMessageRequestParams) -> SamplingAnswer:
        router = current()
        model = choose_model(router, configured, params.model_preferences)
        provider, bare = router.provider_for(router.resolve_model(model))
        body = chat_body(params, bare)
        upstream = await provider.open("/chat/completions", body)
        try:
            raw = await upstream.read()
        finally:
            await upstream.aclose()
        if upstream.status >= 400:
            error = upstream_error(upstream.status, raw, provider.name, upstream.headers)
            hint = " (does this model support tools?)" if params.tools else ""
            raise BackendError(f"{error.message}{hint}")
        log.info("answered a sampling request with %s", model)
        return sampling_result(raw, model, with_tools=bool(params.tools))

    return answer


def choose_model(router: Router, configured: str, preferences: mt.ModelPreferences | None) -> str:
    """The first hint naming a model woollama routes (an alias or a configured
    provider's `<provider>/<model>`), else the configured model."""
    for hint in (preferences.hints or []) if preferences else []:
        name = hint.name or ""
        if router.aliases.get(name) is not None:
            return name
        provider, sep, bare = name.partition("/")
        if sep and bare and provider != RECIPE_PROVIDER and provider in router.providers:
            return name
    return configured


def chat_body(params: mt.CreateMessageRequestParams, model: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for message in params.messages:
        messages.extend(_chat_messages(message))
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": params.max_tokens}
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.stop_sequences:
        body["stop"] = params.stop_sequences
    if params.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description or "",
                    "parameters": tool.input_schema or {"type": "object", "properties": {}},
                },
            }
            for tool in params.tools
        ]
        if params.tool_choice is not None and params.tool_choice.mode:
            body["tool_choice"] = params.tool_choice.mode
    return body


def _chat_messages(message: mt.SamplingMessage) -> list[dict[str, Any]]:
    """One sampling message as chat messages: tool results become `tool` turns."""
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in message.content_as_list:
        if isinstance(block, mt.TextContent):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, mt.ImageContent):
            url = f"data:{block.mime_type};base64,{block.data}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(block, mt.AudioContent):
            audio = {"data": block.data, "format": block.mime_type.rpartition("/")[2]}
            parts.append({"type": "input_audio", "input_audio": audio})
        elif isinstance(block, mt.ToolUseContent):
            function = {"name": block.name, "arguments": json.dumps(block.input)}
            calls.append({"id": block.id, "type": "function", "function": function})
        elif isinstance(block, mt.ToolResultContent):
            text = "\n".join(c.text for c in block.content if isinstance(c, mt.TextContent))
            if not text and block.structured_content is not None:
                text = json.dumps(block.structured_content)
            results.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
    out: list[dict[str, Any]] = list(results)
    if parts or calls or not results:
        # Plain text stays a string: some engines (llama.cpp) take nothing else.
        texts = [p["text"] for p in parts if p["type"] == "text"]
        content: Any = "\n".join(texts) if len(texts) == len(parts) else parts
        turn: dict[str, Any] = {"role": message.role, "content": content}
        if calls:
            turn["tool_calls"] = calls
        out.append(turn)
    return out


def sampling_result(raw: bytes, model: str, *, with_tools: bool) -> SamplingAnswer:
    try:
        answer = json.loads(raw)
        choice = answer["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise BackendError(f"{model!r} answered something that is not a chat completion") from None
    text = message.get("content") or ""
    stop = _STOP_REASONS.get(choice.get("finish_reason") or "", "endTurn")
    if not with_tools:
        return mt.CreateMessageResult(
            role="assistant", content=mt.TextContent(type="text", text=text), model=model,
            stop_reason=stop,
        )  # fmt: skip
    blocks: list[mt.SamplingMessageContentBlock] = []
    if text:
        blocks.append(mt.TextContent(type="text", text=text))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            raise BadRequest(f"{model!r} called {function.get('name')!r} with arguments "
                             "that are not JSON") from None  # fmt: skip
        blocks.append(
            mt.ToolUseContent(
                type="tool_use",
                id=call.get("id") or "call",
                name=function.get("name") or "",
                input=arguments if isinstance(arguments, dict) else {},
            )
        )
    if not blocks:
        blocks.append(mt.TextContent(type="text", text=""))
    return mt.CreateMessageResultWithTools(
        role="assistant", content=blocks, model=model, stop_reason=stop
    )
