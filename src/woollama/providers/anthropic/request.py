"""OpenAI chat completion requests → Anthropic Messages requests (pure; no I/O)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from woollama.errors import BadRequest
from woollama.providers.anthropic.translate import Block

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096


class AnthropicMessage(TypedDict):
    role: Literal["user", "assistant"]
    content: list[Block]


class AnthropicRequest(TypedDict):
    model: str
    messages: list[AnthropicMessage]
    max_tokens: int
    system: NotRequired[str]
    tools: NotRequired[list[Block]]
    tool_choice: NotRequired[Block]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    stop_sequences: NotRequired[list[str]]
    stream: NotRequired[bool]
    metadata: NotRequired[dict[str, str]]


# Fields we translate, or that have no Anthropic counterpart and are harmless to drop
# quietly because they only shape how the answer is delivered.
_HANDLED = frozenset(
    {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
     "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "user"}
)  # fmt: skip

_TOOL_CHOICE: dict[str, Block] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}


def to_anthropic_request(
    body: Mapping[str, Any], *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> AnthropicRequest:
    """An OpenAI chat completion request as a Messages API request body."""
    system, messages = _messages(body.get("messages"))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    request: AnthropicRequest = {
        "model": str(body.get("model", "")),
        "messages": messages,
        "max_tokens": int(max_tokens),
    }
    if system:
        request["system"] = system
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            request[key] = body[key]  # type: ignore[literal-required]
    stop = body.get("stop")
    if isinstance(stop, str):
        request["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        request["stop_sequences"] = [str(s) for s in stop]
    if body.get("stream") is True:
        request["stream"] = True
    if isinstance(body.get("user"), str) and body["user"]:
        request["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if tools:
        request["tools"] = [_tool(t) for t in tools]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), bool(tools))
    if choice is not None:
        request["tool_choice"] = choice
    dropped = sorted(k for k in body if k not in _HANDLED)
    if dropped:
        log.debug("anthropic: dropping OpenAI fields with no Messages API equivalent: %s", dropped)
    return request


def _messages(given: Any) -> tuple[str, list[AnthropicMessage]]:
    if not isinstance(given, list) or not given:
        raise BadRequest("`messages` must be a non-empty list", param="messages")
    system: list[str] = []
    out: list[AnthropicMessage] = []
    for i, message in enumerate(given):
        if not isinstance(message, Mapping):
            raise BadRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            # Anthropic has one top-level system prompt; wherever they stood, they join it.
            text = _plain_text(message.get("content"), f"messages[{i}].content")
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), i)
            turn: Literal["user", "assistant"] = "user"
        elif role == "assistant":
            blocks = _assistant_blocks(message, i)
            turn = "assistant"
        elif role == "tool":
            blocks = [_tool_result(message, i)]
            turn = "user"  # tool results travel in a user turn
        else:
            raise BadRequest(
                f"messages[{i}].role {role!r} is not supported by the Anthropic adapter "
                "(use system, developer, user, assistant or tool)",
                param=f"messages[{i}].role",
            )
        if out and out[-1]["role"] == turn:
            # The API wants user and assistant turns to alternate; OpenAI allows runs.
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": turn, "content": blocks})
    # Anthropic rejects empty content; a turn that had only empty text carries nothing.
    return "\n\n".join(system), [m for m in out if m["content"]]


def _plain_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") not in ("text", "refusal"):
                raise BadRequest(f"{where} may hold only text parts here", param=where)
            parts.append(str(part.get("text") or part.get("refusal") or ""))
        return "\n".join(p for p in parts if p)
    raise BadRequest(f"{where} must be a string or a list of content parts", param=where)


def _text_blocks(text: str) -> list[Block]:
    # Anthropic rejects empty text blocks, which OpenAI clients send routinely ("").
    return [{"type": "text", "text": text}] if text else []


def _user_blocks(content: Any, i: int) -> list[Block]:
    where = f"messages[{i}].content"
    if content is None or isinstance(content, str):
        return _text_blocks(content or "")
    if not isinstance(content, list):
        raise BadRequest(f"{where} must be a string or a list of content parts", param=where)
    blocks: list[Block] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            blocks += _text_blocks(str(part.get("text") or ""))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            blocks.append(image_block(url, f"{where}[{j}]"))
        else:
            raise BadRequest(
                f"{where}[{j}]: content part type {kind!r} is not supported by the Anthropic "
                "adapter (use text or image_url)",
                param=f"{where}[{j}]",
            )
    return blocks


def image_block(url: Any, where: str) -> Block:
    """An OpenAI `image_url` as an Anthropic image block (inline data or a fetched URL)."""
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{where}: image_url.url must be a non-empty string", param=where)
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if sep and encoding == "base64" and media_type:
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                pass
            else:
                source = {"type": "base64", "media_type": media_type, "data": data}
                return {"type": "image", "source": source}
    raise BadRequest(
        f"{where}: image URL must be http(s) or a base64 data: URL (data:image/png;base64,...)",
        param=where,
    )


def _assistant_blocks(message: Mapping[str, Any], i: int) -> list[Block]:
    blocks = _text_blocks(_plain_text(message.get("content"), f"messages[{i}].content"))
    for j, call in enumerate(message.get("tool_calls") or []):
        where = f"messages[{i}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not call.get("id") or not function.get("name"):
            raise BadRequest(f"{where} needs an id and function.name", param=where)
        raw = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw)
        except (TypeError, ValueError):
            arguments = None
        if not isinstance(arguments, dict):
            raise BadRequest(
                f"{where}.function.arguments must be a JSON object, got {raw!r}",
                param=f"{where}.function.arguments",
            )
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments}
        )
    return blocks


def _tool_result(message: Mapping[str, Any], i: int) -> Block:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"messages[{i}] (tool) needs a tool_call_id", param=f"messages[{i}]")
    content = message.get("content")
    block: Block = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        block["content"] = _user_blocks(content, i)
    else:
        block["content"] = _plain_text(content, f"messages[{i}].content")
    # Not an OpenAI field: lets a caller mark a failed tool the way Anthropic can.
    if message.get("is_error") is True:
        block["is_error"] = True
    return block


def _tool(tool: Any) -> Block:
    kind = tool.get("type", "function") if isinstance(tool, Mapping) else None
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if kind != "function" or not isinstance(function, Mapping):
        raise BadRequest(
            f"the Anthropic adapter supports only function tools (got type {kind!r})",
            param="tools",
        )
    if not function.get("name"):
        raise BadRequest("every tool needs function.name", param="tools")
    out: Block = {
        "name": function["name"],
        # Anthropic requires a schema; OpenAI lets a parameterless function omit it.
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any, parallel: Any, has_tools: bool) -> Block | None:
    if choice is None:
        out = {"type": "auto"} if has_tools and parallel is False else None
    elif isinstance(choice, str) and choice in _TOOL_CHOICE:
        out = dict(_TOOL_CHOICE[choice])
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        out = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise BadRequest(
            f"tool_choice {choice!r} is not understood: use auto, none, required or "
            '{"type": "function", "function": {"name": ...}}',
            param="tool_choice",
        )
    if out is not None and parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out
