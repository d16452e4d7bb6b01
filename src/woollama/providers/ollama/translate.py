"""Pure translation between OpenAI chat completions and Ollama's native `/api/chat`.

No I/O here: the provider feeds bytes in and relays what comes out, so every rule
can be tested with plain values.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from woollama.errors import BadRequest, error_body
from woollama.providers.openai_wire import DONE, ChunkStream, completion, sse

# OpenAI request field -> Ollama option of the same meaning.
_SAMPLING = ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")
# Ollama's own OpenAI layer maps statuses to these types; the native path matches it so
# a client sees the same error whichever path served it.
_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def wants_native(endpoint: str, body: Mapping[str, Any]) -> bool:
    """Ollama's OpenAI endpoint silently drops `options`, so only they force `/api/chat`."""
    return endpoint == "/chat/completions" and isinstance(body.get("options"), dict)


def ollama_root(base_url: str) -> str:
    """The server root the native API hangs off (`.../v1` is only the OpenAI layer)."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1")


# -- request ---------------------------------------------------------------------


def to_ollama_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as an Ollama `/api/chat` request."""
    request: dict[str, Any] = {
        "model": body.get("model"),
        "messages": to_ollama_messages(body.get("messages")),
        "stream": body.get("stream") is True,
        "options": merge_options(body),
    }
    if body.get("tools"):
        request["tools"] = body["tools"]  # Ollama accepts the OpenAI function-tool shape
    fmt = to_ollama_format(body.get("response_format"))
    if fmt is not None:
        request["format"] = fmt
    for key in ("keep_alive", "think"):
        if key in body:
            request[key] = body[key]
    return request


def merge_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """`options` with OpenAI's sampling fields folded in; explicit options win."""
    folded: dict[str, Any] = {k: body[k] for k in _SAMPLING if body.get(k) is not None}
    stop = body.get("stop")
    if stop is not None:
        folded["stop"] = [stop] if isinstance(stop, str) else list(stop)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        folded["num_predict"] = limit
    return {**folded, **(body.get("options") or {})}


def to_ollama_format(response_format: Any) -> str | dict[str, Any] | None:
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise BadRequest(
                "response_format.json_schema.schema must be a JSON Schema object",
                param="response_format",
            )
        return schema
    return None


def to_ollama_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise BadRequest("`messages` must be a list of messages", param="messages")
    names: dict[str, str] = {}  # tool_call_id -> function name, for tool results
    out: list[dict[str, Any]] = []
    for n, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise BadRequest(f"messages[{n}] must be an object", param="messages")
        out.append(_message(message, n, names))
    return out


def _message(message: Mapping[str, Any], n: int, names: dict[str, str]) -> dict[str, Any]:
    role = message.get("role")
    # Ollama knows no "developer" role; it is OpenAI's newer name for system.
    converted: dict[str, Any] = {"role": "system" if role == "developer" else role}
    text, images = _content(message.get("content"), n)
    converted["content"] = text
    if images:
        converted["images"] = images
    if role == "assistant":
        if message.get("reasoning_content"):
            converted["thinking"] = message["reasoning_content"]
        calls = []
        for original in message.get("tool_calls") or []:
            call = _tool_call(original, n)
            calls.append(call)
            if original.get("id"):
                names[original["id"]] = call["function"]["name"]
        if calls:
            converted["tool_calls"] = calls
    elif role == "tool":
        name = message.get("name") or names.get(message.get("tool_call_id") or "")
        if name:
            converted["tool_name"] = name
    return converted


def _content(content: Any, n: int) -> tuple[str, list[str]]:
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise BadRequest(f"messages[{n}].content must be a string or a list of parts")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            images.append(_image(part.get("image_url"), n))
        else:
            raise BadRequest(
                f"messages[{n}]: content part type {kind!r} is not supported by Ollama; "
                "send text or image_url parts",
                param="messages",
            )
    return "\n".join(texts), images


def _image(image_url: Any, n: int) -> str:
    url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
    header, sep, data = str(url or "").partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        # Ollama never fetches URLs; it wants the bytes inline.
        raise BadRequest(
            f"messages[{n}]: Ollama needs images inline; send a data:<type>;base64,... URL",
            param="messages",
        )
    return data


def _tool_call(call: Any, n: int) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not function.get("name"):
        raise BadRequest(f"messages[{n}].tool_calls: each call needs a function name")
    raw = function.get("arguments") or "{}"
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise BadRequest(
            f"messages[{n}].tool_calls: arguments of {function['name']!r} must be a JSON object",
            param="messages",
        )
    return {"function": {"name": function["name"], "arguments": arguments}}


# -- response --------------------------------------------------------------------


def new_call_prefix() -> str:
    """Ids unique per answer, so tool results from different turns never collide."""
    return f"call_{secrets.token_hex(4)}_"


def from_ollama_chat(
    answer: Mapping[str, Any], *, created: int | None = None, call_prefix: str | None = None
) -> dict[str, Any]:
    """A non-streamed Ollama answer as an OpenAI `chat.completion`."""
    prefix = call_prefix if call_prefix is not None else new_call_prefix()
    message = answer.get("message") or {}
    calls = [_openai_call(c, i, prefix) for i, c in enumerate(message.get("tool_calls") or [])]
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content") or None}
    if out["content"] is None and not calls:
        out["content"] = ""  # OpenAI sends null content only alongside tool calls
    if message.get("thinking"):
        out["reasoning_content"] = message["thinking"]
    if calls:
        out["tool_calls"] = calls
    return completion(
        answer.get("model", ""),
        out,
        finish_reason(answer.get("done_reason"), bool(calls)),
        usage(answer),
        created=created,
    )


def finish_reason(done_reason: Any, called_tools: bool) -> str:
    if called_tools:
        return "tool_calls"
    return "length" if done_reason == "length" else "stop"


def usage(answer: Mapping[str, Any]) -> dict[str, int]:
    prompt = int(answer.get("prompt_eval_count") or 0)
    completion = int(answer.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _openai_call(call: Mapping[str, Any], index: int, prefix: str) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    # Recent Ollama versions name their calls; older ones leave it to us.
    call_id = call.get("id")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"{prefix}{index}",
        "type": "function",
        "function": {
            "name": function.get("name", ""),
            # OpenAI carries arguments as a JSON string; Ollama as an object.
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
        },
    }


def ollama_error(status: int, raw: bytes) -> dict[str, Any]:
    """Ollama's `{"error": "..."}` (or any body) as the OpenAI error envelope."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body  # already OpenAI-shaped
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = raw[:200].decode("utf-8", "replace").strip() or f"Ollama answered HTTP {status}"
    code = "model_not_found" if status == 404 and "not found" in message else None
    return error_body(message, _ERROR_TYPES.get(status, "api_error"), code)


# -- streaming -------------------------------------------------------------------


class StreamTranslator:
    """Ollama's NDJSON stream in, OpenAI `chat.completion.chunk` events out.

    Feed bytes as they arrive (lines may be split anywhere); once `finished` is set
    the stream is complete, either with `[DONE]` or with an error event, and nothing
    more should be fed.
    """

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        created: int | None = None,
        call_prefix: str | None = None,
    ) -> None:
        self._head = ChunkStream(model, include_usage)
        if created is not None:
            self._head.created = created
        self._prefix = call_prefix if call_prefix is not None else new_call_prefix()
        self._buffer = b""
        self._started = False
        self._calls = 0
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out: list[bytes] = []
        while not self.finished:
            line, sep, rest = self._buffer.partition(b"\n")
            if not sep:
                break
            self._buffer = rest
            out.append(self._line(line))
        return b"".join(out)

    def end(self) -> bytes:
        """The body ended: take a last unterminated line, or report the truncation."""
        out = b""
        if not self.finished and self._buffer.strip():
            line, self._buffer = self._buffer, b""
            out = self._line(line)
        if not self.finished:
            out += self.fail(
                error_body("the Ollama stream ended before its final message", "backend_error")
            )
        return out

    def fail(self, body: Mapping[str, Any]) -> bytes:
        """An error event in place of the rest of the stream; the SDKs raise on it."""
        self.finished = True
        return sse(body)

    def _line(self, line: bytes) -> bytes:
        if not line.strip():
            return b""
        try:
            obj = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None
        if not isinstance(obj, dict):
            return self.fail(error_body("Ollama streamed a line that is not JSON", "backend_error"))
        if "error" in obj:
            return self.fail(error_body(str(obj["error"]), "upstream_error"))
        self._head.model = obj.get("model") or self._head.model
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        message = obj.get("message") or {}
        if message.get("thinking"):
            out.append(self._chunk({"reasoning_content": message["thinking"]}))
        if message.get("content"):
            out.append(self._chunk({"content": message["content"]}))
        # Ollama streams each tool call whole, so one delta carries id, name and arguments.
        for call in message.get("tool_calls") or []:
            delta = {"index": self._calls, **_openai_call(call, self._calls, self._prefix)}
            out.append(self._chunk({"tool_calls": [delta]}))
            self._calls += 1
        if obj.get("done"):
            out.append(self._chunk({}, finish_reason(obj.get("done_reason"), self._calls > 0)))
            if self._head.include_usage:
                out.append(sse(self._head.usage_chunk(usage(obj))))
            out.append(DONE)
            self.finished = True
        return b"".join(out)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse(self._head.chunk(delta, finish))
