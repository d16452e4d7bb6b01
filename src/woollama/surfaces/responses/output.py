"""The Responses API's output shapes: the response envelope, output items, usage.

Pure builders, written against the `openai` SDK's `Response` model; every dict built
here validates with `openai.types.responses.Response.model_validate`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal, NotRequired, TypedDict

from woollama.errors import WoollamaError

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]
    logprobs: list[Any]


class MessageItem(TypedDict):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    status: ItemStatus
    content: list[OutputText]


class FunctionCallItem(TypedDict):
    id: str
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    status: ItemStatus


class SummaryText(TypedDict):
    type: Literal["summary_text"]
    text: str


class ReasoningItem(TypedDict):
    id: str
    type: Literal["reasoning"]
    summary: list[SummaryText]
    status: ItemStatus


OutputItem = MessageItem | FunctionCallItem | ReasoningItem


class Usage(TypedDict):
    input_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens: int
    output_tokens_details: dict[str, int]
    total_tokens: int


class ResponseError(TypedDict):
    code: str
    message: str
    type: NotRequired[str]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def output_text(text: str) -> OutputText:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: ItemStatus) -> MessageItem:
    # While in progress the message has no parts yet; content_part.added brings the first.
    content = [] if text is None else [output_text(text)]
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": content}  # fmt: skip


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: ItemStatus
) -> FunctionCallItem:
    return {"id": item_id, "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}  # fmt: skip


def reasoning_item(item_id: str, text: str | None, status: ItemStatus) -> ReasoningItem:
    summary: list[SummaryText] = [] if text is None else [{"type": "summary_text", "text": text}]
    return {"id": item_id, "type": "reasoning", "summary": summary, "status": status}


def usage_from_chat(usage: Any) -> Usage | None:
    """Chat `usage` → Responses `usage`; None when the backend reported none."""
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": prompt,
        # cache_write_tokens: required by the SDK's model; chat backends do not report it.
        "input_tokens_details": {
            "cached_tokens": _int(prompt_details.get("cached_tokens")),
            "cache_write_tokens": 0,
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": _int(completion_details.get("reasoning_tokens"))
        },
        "total_tokens": _int(usage.get("total_tokens")) or prompt + completion,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def envelope(model: str, echo: dict[str, Any]) -> dict[str, Any]:
    """A new response in progress: no output yet, the request's settings echoed."""
    return {
        "id": new_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        **echo,
    }


def response_error(exc: WoollamaError) -> ResponseError:
    # The SDK accepts only OpenAI's own codes here; the specific one goes in `type`.
    code = "rate_limit_exceeded" if exc.status == 429 else "server_error"
    return {"code": code, "message": exc.message, "type": exc.code or exc.error_type}


INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
