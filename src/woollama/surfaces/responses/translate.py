"""Responses API request → chat completions request (pure; no I/O).

The stateless Responses API is a thin layer over chat completions: `input` items
become `messages`, function tools keep their schema under `function`, and the
knobs with a chat equivalent are renamed. What the response object must echo back
(instructions, tools, text format, ...) is computed here too, so the output side
never needs the raw request.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from woollama.errors import BadRequest, Unsupported
from woollama.providers import split_model
from woollama.surfaces.responses.input import (
    STATEFUL_HINT,
    ChatMessage,
    input_messages,
    string_field,
)


@dataclass(frozen=True)
class ResponsePlan:
    """A validated request: what to send upstream and what the response echoes."""

    model: str  # as the client wrote it, `<provider>/<model>` or `woollama/<recipe>`
    chat: dict[str, Any]  # a chat completions body without `model`
    echo: dict[str, Any]  # request fields the response object repeats
    stream: bool
    state: StateRef | None = None  # set when a conversation backend must serve it


@dataclass(frozen=True)
class StateRef:
    """How a stateful request names its conversation (first present wins)."""

    conversation: str | None = None
    previous_response_id: str | None = None
    key: str | None = None


def plan_request(body: dict[str, Any]) -> ResponsePlan:
    """Validate a `POST /v1/responses` body and translate it; raises BadRequest/Unsupported."""
    model = body.get("model")
    if not isinstance(model, str) or "/" in model:
        split_model(model)  # a missing or malformed model is a 400 before anything else
    assert isinstance(model, str)  # a name without '/' may be an alias: the router decides
    state = _state(body)
    if "input" not in body or body["input"] is None:
        raise BadRequest("`input` is required: a string or a list of input items", param="input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest("`instructions` must be a string", param="instructions")
    messages: list[ChatMessage] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.extend(input_messages(body["input"]))

    chat: dict[str, Any] = {"messages": messages}
    echo: dict[str, Any] = {
        "instructions": instructions,
        "store": False,
        "previous_response_id": None,
        "background": False,
        "truncation": "disabled",
    }
    tools, echo["tools"] = _tools(body.get("tools"))
    choice = body.get("tool_choice")
    echo["tool_choice"] = "auto" if choice is None else choice
    parallel = _optional(body, "parallel_tool_calls", bool, "a boolean")
    echo["parallel_tool_calls"] = True if parallel is None else parallel
    if tools:
        # Chat backends reject tool_choice and parallel_tool_calls without tools.
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = _tool_choice(choice)
        if parallel is not None:
            chat["parallel_tool_calls"] = parallel
    elif choice is not None:
        _tool_choice(choice)  # still validated, so a typo is reported, not ignored

    for name in ("temperature", "top_p"):
        value = _optional(body, name, numbers.Real, "a number")
        echo[name] = value
        if value is not None:
            chat[name] = value
    max_tokens = _optional(body, "max_output_tokens", int, "a positive integer")
    if max_tokens is not None:
        if max_tokens < 1:
            raise BadRequest("`max_output_tokens` must be a positive integer",
                             param="max_output_tokens")  # fmt: skip
        chat["max_tokens"] = max_tokens
    echo["max_output_tokens"] = max_tokens

    echo["text"] = _text(body.get("text"), chat)
    echo["reasoning"] = _reasoning(body.get("reasoning"), chat)
    echo["metadata"] = _metadata(body.get("metadata"))
    # Ollama's own knobs (num_ctx, ...), as on chat completions: the Ollama provider
    # takes a request that has them to its native API, which is the only one that reads them.
    options = _optional(body, "options", dict, "an object like {num_ctx: 8192}")
    if options is not None:
        chat["options"] = options
    user = _optional(body, "user", str, "a string")
    echo["user"] = user
    if user is not None:
        chat["user"] = user
    stream = _optional(body, "stream", bool, "a boolean")
    return ResponsePlan(model=model, chat=chat, echo=echo, stream=bool(stream), state=state)


def _state(body: dict[str, Any]) -> StateRef | None:
    conversation = body.get("conversation")
    if isinstance(conversation, dict):  # the API also accepts {"id": "conv_..."}
        conversation = conversation.get("id")
    names = {
        "conversation": conversation,
        "previous_response_id": body.get("previous_response_id"),
        "key": body.get("key"),
    }
    for name, value in names.items():
        if value is not None and (not isinstance(value, str) or not value):
            raise BadRequest(f"`{name}` must be a non-empty string", param=name)
    if body.get("background") is True:
        raise Unsupported(f"`background: true` is not supported here: {STATEFUL_HINT}",
                          param="background")  # fmt: skip
    if any(names.values()) or body.get("store") is True:
        return StateRef(**names)
    return None


def _optional(body: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = body.get(name)
    # bool is an int subclass: `max_output_tokens: true` must not pass as 1.
    if value is None or (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))):
        return value
    raise BadRequest(f"`{name}` must be {what}", param=name)


# -- tools, tool_choice, text format, reasoning -------------------------------------


def _tools(given: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(chat tools, the tools as the response echoes them)."""
    if given is None:
        return [], []
    if not isinstance(given, list):
        raise BadRequest("`tools` must be a list", param="tools")
    chat, echo = [], []
    for index, tool in enumerate(given):
        where = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise BadRequest(
                f"{where}: tool type {kind!r} is not supported; only function tools "
                "({type: 'function', name, parameters}) are, since the backend is a chat model",
                param=where,
                code="unsupported_tool",
            )
        function: dict[str, Any] = {"name": string_field(tool, "name", where)}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        chat.append({"type": "function", "function": function})
        echo.append({"type": "function", "parameters": None, "strict": None, **function})
    return chat, echo


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if isinstance(name, str) and name:
            return {"type": "function", "function": {"name": name}}
    raise BadRequest(
        "`tool_choice` must be auto, none, required or {type: 'function', name}",
        param="tool_choice",
    )


def _text(given: Any, chat: dict[str, Any]) -> dict[str, Any]:
    if given is None:
        return {"format": {"type": "text"}}
    if not isinstance(given, dict):
        raise BadRequest("`text` must be an object like {format: {type: 'text'}}", param="text")
    fmt = given.get("format") or {"type": "text"}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise BadRequest("text.format.schema must be a JSON Schema object",
                             param="text.format.schema")  # fmt: skip
        spec = {"name": string_field(fmt, "name", "text.format"), "schema": schema}
        spec.update({k: fmt[k] for k in ("strict", "description") if fmt.get(k) is not None})
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif kind != "text":
        raise BadRequest(f"text.format.type must be text, json_object or json_schema; got "
                         f"{kind!r}", param="text.format")  # fmt: skip
    echo: dict[str, Any] = {"format": fmt}
    if given.get("verbosity") is not None:
        chat["verbosity"] = echo["verbosity"] = given["verbosity"]
    return echo


def _reasoning(given: Any, chat: dict[str, Any]) -> dict[str, Any] | None:
    if given is None:
        return None
    if not isinstance(given, dict):
        raise BadRequest("`reasoning` must be an object like {effort: 'low'}", param="reasoning")
    if given.get("effort") is not None:
        chat["reasoning_effort"] = given["effort"]
    return {"effort": given.get("effort"), "summary": given.get("summary")}


def _metadata(given: Any) -> dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in given.items()
    ):
        raise BadRequest("`metadata` must be an object of string values", param="metadata")
    return given
