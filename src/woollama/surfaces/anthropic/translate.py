"""Anthropic Messages requests → OpenAI chat requests, and OpenAI completions → Messages.

This is the inbound direction; `woollama.providers.anthropic` translates the other
way for the outbound adapter, and the mapping tables both directions need live there
and are inverted here rather than written twice. Pure: no I/O.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from woollama.errors import BadRequest
from woollama.providers.anthropic.request import _TOOL_CHOICE
from woollama.providers.anthropic.translate import FINISH_REASONS

log = logging.getLogger(__name__)

Block = dict[str, Any]

# First Anthropic reason per OpenAI one wins: "stop" is an end_turn, not a pause.
STOP_REASONS: dict[str, str] = {}
for _anthropic, _openai in FINISH_REASONS.items():
    STOP_REASONS.setdefault(_openai, _anthropic)
TOOL_CHOICES = {block["type"]: openai for openai, block in _TOOL_CHOICE.items()}

# Fields that only matter to Anthropic's own service (caching, placement, accounting),
# dropped for other targets.
_IGNORED = frozenset(
    {"service_tier", "container", "mcp_servers", "context_management", "cache_control",
     "diagnostics", "inference_geo", "speed", "user_profile_id", "workspace_id"}
)  # fmt: skip
_KNOWN = frozenset(
    {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
     "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "output_config"}
) | _IGNORED  # fmt: skip
# Anthropic's effort levels above OpenAI's highest are still "high" there.
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


class MessageUsage(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None


class Message(TypedDict):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[Block]
    stop_reason: str | None
    stop_sequence: str | None
    usage: MessageUsage
    container: NotRequired[None]


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


# -- request ---------------------------------------------------------------------


def to_chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages request as an OpenAI chat completion request (model left as given).

    Anything the target could not be told faithfully is a 400 that names the field.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: a non-empty string is required", param="model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest("max_tokens: a positive integer is required", param="max_tokens")
    unknown = sorted(k for k in body if k not in _KNOWN)
    if unknown:
        raise BadRequest(f"{unknown[0]}: Extra inputs are not permitted", param=unknown[0])
    messages = _system(body.get("system"))
    given = body.get("messages")
    if not isinstance(given, list) or not given:
        raise BadRequest("messages: a non-empty list is required", param="messages")
    for i, message in enumerate(given):
        messages.extend(_message(message, f"messages.{i}"))
    request: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    for key in ("temperature", "top_p", "top_k"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{key}: must be a number", param=key)
        request[key] = value  # top_k is no OpenAI field; llama.cpp, vLLM and Ollama read it
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise BadRequest("stop_sequences: must be a list of strings", param="stop_sequences")
        if stops:
            request["stop"] = stops
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream: must be true or false", param="stream")
    if stream:
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise BadRequest("metadata: must be an object", param="metadata")
        if isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
            request["user"] = metadata["user_id"]
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise BadRequest("tools: must be a list", param="tools")
        if tools:
            request["tools"] = [_tool(t, f"tools.{i}") for i, t in enumerate(tools)]
    if body.get("tool_choice") is not None:
        request.update(_tool_choice(body["tool_choice"]))
    effort = _reasoning_effort(body.get("thinking"))
    if effort is not None:
        request["reasoning_effort"] = effort
    if body.get("output_config") is not None:
        request.update(_output_config(body["output_config"]))
    return request


def _output_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise BadRequest("output_config: must be an object", param="output_config")
    out: dict[str, Any] = {}
    effort = config.get("effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise BadRequest(
                "output_config.effort: must be low, medium, high, xhigh or max",
                param="output_config.effort",
            )
        out["reasoning_effort"] = _EFFORTS[effort]
    form = config.get("format")
    if form is not None:
        schema = form.get("schema") if isinstance(form, Mapping) else None
        if not isinstance(schema, Mapping) or form.get("type") != "json_schema":
            raise BadRequest(
                "output_config.format: must be {type: json_schema, schema: {...}}",
                param="output_config.format",
            )
        json_schema = {"name": "output", "schema": dict(schema), "strict": True}
        out["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise BadRequest("system: must be a string or a list of text blocks", param="system")
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise BadRequest(f"system.{i}: only text blocks are allowed", param=f"system.{i}")
        texts.append(_text(block, f"system.{i}"))  # cache_control means nothing elsewhere
    return [{"role": "system", "content": "\n\n".join(t for t in texts if t)}] if texts else []


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise BadRequest(f"{where}.text: must be a string", param=f"{where}.text")
    return text


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(message, Mapping):
        raise BadRequest(f"{where}: must be an object", param=where)
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise BadRequest(f"{where}.role: must be 'user' or 'assistant'", param=f"{where}.role")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequest(
            f"{where}.content: must be a string or a list of blocks", param=f"{where}.content"
        )
    return _assistant(content, where) if role == "assistant" else _user(content, where)


def _assistant(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content.{j}"
        kind = _kind(block, at)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise BadRequest(f"{at}: tool_use needs a string id and name", param=at)
            arguments = block.get("input", {})
            if not isinstance(arguments, Mapping):
                raise BadRequest(f"{at}.input: must be an object", param=f"{at}.input")
            function = {"name": block["name"], "arguments": json.dumps(arguments)}
            calls.append({"id": block["id"], "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # signed for Anthropic only; another model cannot use it
        else:
            raise BadRequest(f"{at}: block type {kind!r} cannot be sent by the assistant", param=at)
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if calls:
        out["tool_calls"] = calls
    return [out]


def _user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    # OpenAI carries tool results as separate `tool` messages, which must come right
    # after the assistant's calls, so they go first and the rest of the turn follows.
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content.{j}"
        kind = _kind(block, at)
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, at)})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "tool_result":
            result, images = _tool_result(block, at)
            results.append(result)
            parts.extend(images)  # a tool message cannot hold images; the user turn can
        else:
            raise BadRequest(f"{at}: block type {kind!r} is not supported here", param=at)
    out = list(results)
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        content: Any = "\n".join(p["text"] for p in parts) if only_text else parts
        out.append({"role": "user", "content": content})
    return out


def _kind(block: Any, where: str) -> str:
    if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
        raise BadRequest(f"{where}: must be a content block with a type", param=where)
    return block["type"]


def _image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, Mapping) else None
    if kind == "base64" and isinstance(source, Mapping):
        media, data = source.get("media_type"), source.get("data")
        if isinstance(media, str) and isinstance(data, str) and media and data:
            return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    elif kind == "url" and isinstance(source, Mapping) and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise BadRequest(
        f"{where}.source: must be a base64 source (media_type, data) or a url source",
        param=f"{where}.source",
    )


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[Block]]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.tool_use_id: must be a string", param=f"{where}.tool_use_id")
    content = block.get("content", "")
    images: list[Block] = []
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for k, part in enumerate(content):
            at = f"{where}.content.{k}"
            kind = _kind(part, at)
            if kind == "text":
                texts.append(_text(part, at))
            elif kind == "image":
                images.append(_image(part, at))
            else:
                raise BadRequest(f"{at}: block type {kind!r} is not supported here", param=at)
        text = "\n".join(texts)
    else:
        raise BadRequest(f"{where}.content: must be a string or a list", param=f"{where}.content")
    if block.get("is_error") is True:
        # OpenAI has no failure flag on a tool message; the model still has to know.
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
        raise BadRequest(f"{where}.name: every tool needs a name", param=f"{where}.name")
    kind = tool.get("type", "custom")
    schema = tool.get("input_schema")
    if kind not in ("custom", None) or not isinstance(schema, Mapping):
        # Server tools (web_search_…, bash_…) run at Anthropic; nobody else has them.
        raise BadRequest(
            f"{where}: tool {tool['name']!r} needs an input_schema; Anthropic server tools "
            f"(type {kind!r}) run only on the anthropic provider",
            param=where,
        )
    function: dict[str, Any] = {"name": tool["name"], "parameters": dict(schema)}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> dict[str, Any]:
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    out: dict[str, Any] = {}
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise BadRequest("tool_choice.name: required for type tool", param="tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    else:
        raise BadRequest(
            "tool_choice.type: must be auto, any, tool or none", param="tool_choice.type"
        )
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
    return out


def _reasoning_effort(thinking: Any) -> str | None:
    """Extended thinking as OpenAI's reasoning_effort, by the budget the client gave."""
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind == "disabled":
        return None
    if kind in ("adaptive", "between_tools"):
        return "medium"
    if kind != "enabled":
        raise BadRequest(
            "thinking.type: must be enabled, disabled, adaptive or between_tools",
            param="thinking.type",
        )
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise BadRequest(
            "thinking.budget_tokens: a positive integer is required", param="thinking.budget_tokens"
        )
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


# -- response --------------------------------------------------------------------


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(str(finish_reason), "end_turn")


def to_usage(usage: Mapping[str, Any] | None) -> MessageUsage:
    """OpenAI's prompt_tokens includes cached input; Anthropic counts it apart."""
    usage = usage or {}
    cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
    return {
        "input_tokens": int(usage.get("prompt_tokens") or 0) - cached,
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": cached if "prompt_tokens_details" in usage else None,
    }


def to_message(completion: Mapping[str, Any], model: str) -> Message:
    """An OpenAI `chat.completion` as a Messages API response."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ValueError("a chat completion has at least one choice")
    choice = choices[0]
    reply = choice.get("message") or {}
    content: list[Block] = []
    reasoning = reply.get("reasoning_content") or reply.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if isinstance(reply.get("content"), str) and reply["content"]:
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or []:
        content.append(tool_use_block(call["id"], call["function"]["name"],
                                      call["function"].get("arguments")))  # fmt: skip
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": to_usage(completion.get("usage")),
    }


def tool_use_block(call_id: str, name: str, arguments: Any) -> Block:
    return {"type": "tool_use", "id": call_id, "name": name, "input": parse_arguments(arguments)}


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """A model's arguments string as an object; a model that wrote nonsense gets {}."""
    try:
        parsed = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        log.info("a model's tool arguments were not JSON: %.200r", arguments)
        return {}
    return parsed if isinstance(parsed, dict) else {}
