"""Anthropic Messages answers and errors → OpenAI shapes (pure; no I/O).

Everything above the adapter (the relay, the recipe loop, the SDKs) only ever sees
OpenAI shapes. Requests are translated in `anthropic_request`, streams in
`anthropic_stream`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, TypedDict

from woollama.errors import error_body
from woollama.providers.openai_wire import completion

log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"

Block = dict[str, Any]


# -- wire shapes -----------------------------------------------------------------


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
    return completion(
        model,
        reply,
        finish_reason(message.get("stop_reason")),
        dict(to_openai_usage(message.get("usage"))),
        completion_id=completion_id(message.get("id")),
        created=created,
    )


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
    "AnthropicUsage",
    "OpenAIUsage",
    "completion_id",
    "finish_reason",
    "to_openai_error",
    "to_openai_response",
    "to_openai_usage",
]
