"""Pure translations between OpenAI chat completions and Anthropic's Messages API.

Requests go OpenAI → Anthropic, answers and errors come back Anthropic → OpenAI, so
everything above the adapter (the relay, the recipe loop, the SDKs) only ever sees
OpenAI shapes. The streaming half lives in `anthropic_stream`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from woollama.errors import BadRequest, error_body

log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

Block = dict[str, Any]


# -- wire shapes -----------------------------------------------------------------


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


class AnthropicUsage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None


class OpenAIUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int]


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

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic's error types and the status we answer with. Its own 5xx become ours:
# api_error is a failed backend (502), overloaded (529, not an HTTP standard) is busy.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 502,
    "timeout_error": 504,
    "overloaded_error": 503,
}


# -- request ---------------------------------------------------------------------


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


# -- response --------------------------------------------------------------------


def to_openai_usage(usage: Mapping[str, Any] | None) -> OpenAIUsage:
    """Anthropic counts cached input separately; OpenAI's prompt_tokens includes it."""
    usage = usage or {}
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    prompt = (
        int(usage.get("input_tokens") or 0)
        + int(usage.get("cache_creation_input_tokens") or 0)
        + cache_read
    )
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


def completion_id(message_id: Any) -> str:
    return f"chatcmpl-{message_id}"


def to_openai_response(
    message: Mapping[str, Any], model: str, *, created: int | None = None
) -> dict[str, Any]:
    """A Messages API response as an OpenAI `chat.completion`."""
    text: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": json.dumps(block.get("input") or {}),
                    },
                }
            )
    reply: dict[str, Any] = {
        "role": "assistant",
        # OpenAI's convention: null content when the turn is only tool calls.
        "content": "".join(text) if text or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
    if thinking:
        reply["reasoning_content"] = "".join(thinking)
    return {
        "id": completion_id(message.get("id")),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": finish_reason(message.get("stop_reason")),
            }
        ],
        "usage": to_openai_usage(message.get("usage")),
    }


# -- errors ----------------------------------------------------------------------


def to_openai_error(
    status: int, raw: bytes | Mapping[str, Any], provider: str
) -> tuple[int, dict[str, Any]]:
    """An Anthropic error answer (or `error` event) as our status and OpenAI error body."""
    body: Any = raw
    if isinstance(raw, bytes):
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and error.get("type"):
        kind = str(error["type"])
        message = f"provider {provider!r}: {error.get('message') or kind}"
        if isinstance(body, Mapping) and body.get("request_id"):
            message += f" (request_id {body['request_id']})"
        return ERROR_STATUS.get(kind, _status_for(status)), error_body(message, kind, kind)
    snippet = raw[:200].decode("utf-8", "replace").strip() if isinstance(raw, bytes) else ""
    message = f"provider {provider!r} answered HTTP {status}" + (f": {snippet}" if snippet else "")
    return _status_for(status), error_body(message, "upstream_error")


def _status_for(status: int) -> int:
    if status == 529:
        return 503
    return 502 if status >= 500 else status


__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicRequest",
    "AnthropicUsage",
    "OpenAIUsage",
    "completion_id",
    "finish_reason",
    "image_block",
    "to_anthropic_request",
    "to_openai_error",
    "to_openai_response",
    "to_openai_usage",
]
