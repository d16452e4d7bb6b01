"""Responses API `input` items → chat completions `messages` (pure; no I/O).

A stateless request carries the whole transcript: messages, the function calls the
model made and their outputs. Chat wants each turn's calls on one assistant message,
followed by one `tool` message per call, so consecutive calls are merged.
"""

from __future__ import annotations

from typing import Any

from woollama.errors import BadRequest, Unsupported

ChatMessage = dict[str, Any]

STATEFUL_HINT = (
    "stateful responses need a conversation backend (a claude-code/… or claude-agent/… "
    "model, or a conversationStore in mcp.json); send the whole history in `input` "
    "with store absent or false instead"
)
_TEXT_PARTS = frozenset({"input_text", "output_text"})
_IMAGE_DETAIL = frozenset({"auto", "low", "high"})


def input_messages(given: Any) -> list[ChatMessage]:
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise BadRequest("`input` must be a string or a non-empty list of input items",
                         param="input")  # fmt: skip
    messages: list[ChatMessage] = []
    calls: set[str] = set()
    for index, item in enumerate(given):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object, not {type(item).__name__}", param=where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            _function_call(item, where, messages)
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            messages.append(_function_output(item, where, calls))
        elif kind == "reasoning":
            continue  # chat backends have no slot for earlier reasoning; it is advisory
        elif kind == "item_reference":
            raise Unsupported(f"{where}: item references are not supported: {STATEFUL_HINT}",
                              param=where)  # fmt: skip
        else:
            raise BadRequest(
                f"{where}: unsupported input item type {kind!r}; supported: message, "
                "function_call, function_call_output, reasoning",
                param=where,
            )
    return messages


def _message(item: dict[str, Any], where: str) -> ChatMessage:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise BadRequest(
            f"{where}.role must be one of user, system, developer, assistant; got {role!r}",
            param=f"{where}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        parts = [_part(part, f"{where}.content[{i}]", role) for i, part in enumerate(content)]
    else:
        raise BadRequest(f"{where}.content must be a string or a list of content parts",
                         param=f"{where}.content")  # fmt: skip
    texts = [p["text"] for p in parts if p["type"] == "text"]
    if role != "user":
        # Only user messages may carry images; system and assistant text is flattened
        # to a string because many chat backends accept nothing else there.
        # `developer` is sent as `system`: OpenAI treats them alike, other backends
        # only know `system`.
        return {"role": "system" if role == "developer" else role, "content": "\n".join(texts)}
    if len(parts) == 1 and len(texts) == 1:
        return {"role": "user", "content": texts[0]}
    return {"role": "user", "content": parts}


def _part(part: Any, where: str, role: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise BadRequest(f"{where} must be an object", param=where)
    kind = part.get("type")
    if kind in _TEXT_PARTS or (kind == "refusal" and role == "assistant"):
        key = "refusal" if kind == "refusal" else "text"
        return {"type": "text", "text": string_field(part, key, where)}
    if role == "user" and kind == "input_image":
        return _image(part, where)
    if role == "user" and kind == "input_file":
        return _file(part, where)
    allowed = "output_text, refusal" if role == "assistant" else "input_text"
    if role == "user":
        allowed += ", input_image, input_file"
    raise BadRequest(f"{where}: content part type {kind!r} is not supported in a {role} "
                     f"message; use {allowed}", param=where)  # fmt: skip


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise BadRequest(
            f"{where}: input_image needs image_url (an https URL or a data: URL); file_id "
            "images need the Files API, which woollama does not proxy",
            param=f"{where}.image_url",
        )
    image: dict[str, Any] = {"url": url}
    if part.get("detail") in _IMAGE_DETAIL:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file(part: dict[str, Any], where: str) -> dict[str, Any]:
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise BadRequest(
            f"{where}: input_file needs file_data (a base64 data: URL); file_id and "
            "file_url need services woollama does not proxy",
            param=f"{where}.file_data",
        )
    file: dict[str, Any] = {"file_data": data}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _function_call(item: dict[str, Any], where: str, messages: list[ChatMessage]) -> None:
    call = {
        "id": string_field(item, "call_id", where),
        "type": "function",
        "function": {
            "name": string_field(item, "name", where),
            "arguments": string_field(item, "arguments", where),
        },
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        # Parallel calls (and the text before them) are one assistant turn in chat:
        # every tool message must follow the assistant message that made its call.
        last.setdefault("tool_calls", []).append(call)
    else:
        # "" rather than null: some engines (llama.cpp) reject a null content.
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})


def _function_output(item: dict[str, Any], where: str, calls: set[str]) -> ChatMessage:
    call_id = string_field(item, "call_id", where)
    if call_id not in calls:
        raise BadRequest(
            f"{where}: function_call_output for call_id {call_id!r} has no function_call item "
            "before it; a stateless request must send the function_call item too",
            param=f"{where}.call_id",
        )
    output = item.get("output")
    if isinstance(output, list):
        texts = []
        for i, part in enumerate(output):
            if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS:
                raise BadRequest(
                    f"{where}.output[{i}]: only text parts can be sent back to a chat backend "
                    "as a tool result",
                    param=f"{where}.output",
                )
            texts.append(string_field(part, "text", f"{where}.output[{i}]"))
        output = "".join(texts)
    if not isinstance(output, str):
        raise BadRequest(f"{where}.output must be a string or a list of text parts",
                         param=f"{where}.output")  # fmt: skip
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def string_field(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{where}.{key} is required and must be a string", param=f"{where}.{key}")
    return value
