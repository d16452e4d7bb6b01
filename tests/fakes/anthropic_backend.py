"""A protocol-faithful fake of Anthropic's Messages API for tests.

Written from Anthropic's public API reference: `POST /v1/messages` (JSON or SSE with
the documented event order: message_start, then per content block
content_block_start / content_block_delta… / content_block_stop with a ping after the
first start, then message_delta with usage and message_stop), `GET /v1/models`, the
`x-api-key` and `anthropic-version` headers, and the `{"type": "error", "error": {...}}`
error shape. Like the real API it rejects requests an adapter might get wrong: unknown
top-level fields, empty text blocks, roles other than user/assistant, and `tool_use`
blocks without matching `tool_result` blocks in the next turn.

It is a real uvicorn server on 127.0.0.1 (ephemeral port) in its own thread:

    with FakeAnthropic() as fake:
        fake.script(ToolUse([("get_time", {"tz": "UTC"})]), Text("It is noon."))
        ...
        assert fake.requests[0].headers["x-api-key"] == "sk-ant-test"

Without a script, a request is answered with ``"echo: " + <last user text>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._threaded import Receive, Recorded, Scope, Send, ThreadedServer, read_request

__all__ = ["Die", "Error", "FakeAnthropic", "Recorded", "Reply", "Text", "Thinking", "ToolUse"]

Block = dict[str, Any]

# Characters of tool input per input_json_delta: small, so fragments split JSON tokens.
_FRAGMENT = 5
_REQUEST_FIELDS = frozenset(
    {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
     "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier",
     "container", "mcp_servers", "context_management"}
)  # fmt: skip


# -- scripted replies --------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """One text block; streamed as word-sized text_delta events."""

    text: str
    stop_reason: str = "end_turn"
    usage: Mapping[str, int] | None = None  # replaces the computed usage verbatim


@dataclass(frozen=True)
class ToolUse:
    """``(name, input)`` tool_use blocks, optionally after a text block; each input is
    streamed as small input_json_delta fragments."""

    calls: Sequence[tuple[str, Mapping[str, Any]]]
    text: str | None = None


@dataclass(frozen=True)
class Thinking:
    """A thinking block (with its signature) followed by a text block."""

    thinking: str
    text: str


@dataclass(frozen=True)
class Error:
    """An Anthropic error: the HTTP answer, or with ``mid_stream`` (streaming requests
    only) an ``error`` event after message_start on a 200 stream, as the API does when
    it fails after the response started."""

    status: int
    type: str
    message: str
    mid_stream: bool = False


@dataclass(frozen=True)
class Die:
    """Streaming: drop the connection after ``after_deltas`` text deltas. Not
    streaming: drop it without answering."""

    after_deltas: int = 1


Reply = Text | ToolUse | Thinking | Error | Die


# -- wire helpers ------------------------------------------------------------------


def _id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


def _error(kind: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def _sse(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+$", text)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, Mapping):
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(_text_of(block.get("content")))
    return " ".join(parts)


def _validate(body: Any) -> str | None:
    """The first reason the real API would reject this body with a 400, if any."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    for key in body:
        if key not in _REQUEST_FIELDS:
            return f"{key}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    if not 0 <= body.get("temperature", 0) <= 1:
        return "temperature: range: 0..1"
    if set(body.get("metadata") or {}) - {"user_id"}:
        return "metadata: Extra inputs are not permitted"
    for tool in body.get("tools") or []:
        if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            return "tools: each tool needs name and input_schema"
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    pending: list[str] = []  # tool_use ids the next message must answer
    for i, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{i}: all messages must have non-empty content"
        if any(b.get("type") == "text" and not b.get("text") for b in blocks):
            return "messages: text content blocks must be non-empty"
        answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        for j, block in enumerate(blocks):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in pending:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
        missing = [t for t in pending if t not in answered]
        if missing:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        pending = [b["id"] for b in blocks if b.get("type") == "tool_use"]
    if pending:
        return (
            f"messages.{len(messages) - 1}: the final message has `tool_use` blocks; "
            "they need `tool_result` blocks in a following user message"
        )
    return None


def _plan(reply: Reply | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """The whole Message the reply stands for; streaming replays it as events."""
    content: list[Block] = []
    stop_reason = "end_turn"
    if reply is None:
        last = next((m for m in reversed(body["messages"]) if m["role"] == "user"), {})
        content.append({"type": "text", "text": "echo: " + _text_of(last.get("content"))})
    elif isinstance(reply, Text):
        content.append({"type": "text", "text": reply.text})
        stop_reason = reply.stop_reason
    elif isinstance(reply, ToolUse):
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        for name, arguments in reply.calls:
            content.append(
                {"type": "tool_use", "id": _id("toolu_01"), "name": name, "input": dict(arguments)}
            )
        stop_reason = "tool_use"
    elif isinstance(reply, Thinking):
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": _id("Eq")})
        content.append({"type": "text", "text": reply.text})
    elif isinstance(reply, Die):
        content.append({"type": "text", "text": " ".join(["tok"] * (reply.after_deltas + 3))})
    prompt = " ".join([_text_of(m.get("content")) for m in body["messages"]])
    output = sum(
        len(_text_of([b]).split()) + len(json.dumps(b.get("input", ""))) // 4 for b in content
    )
    usage = {
        "input_tokens": len(prompt.split()) + len(str(body.get("system") or "").split()),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
    }
    if isinstance(reply, Text) and reply.usage is not None:
        usage = dict(reply.usage)
    return {
        "id": _id("msg_01"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _events(message: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The documented event sequence for a finished Message."""
    start_usage = {**message["usage"], "output_tokens": 1}
    shell = {**message, "content": [], "stop_reason": None, "usage": start_usage}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": shell})
    ]
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        empty = {
            "text": {"type": "text", "text": ""},
            "thinking": {"type": "thinking", "thinking": ""},
            "tool_use": {**block, "input": {}},
        }[kind]
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index,
                                     "content_block": empty})
        )  # fmt: skip
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        if kind == "text":
            deltas = [{"type": "text_delta", "text": w} for w in _words(block["text"])]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": w} for w in _words(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            raw = json.dumps(block["input"])
            # The API opens a tool's input with an empty fragment.
            deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
                {"type": "input_json_delta", "partial_json": raw[i : i + _FRAGMENT]}
                for i in range(0, len(raw), _FRAGMENT)
            ]
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"].get("output_tokens", 0)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# -- the ASGI app --------------------------------------------------------------------


class _App:
    def __init__(self, fake: FakeAnthropic):
        self._fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        if request is None:
            return
        self._fake.requests.append(request)
        method, path, headers, body = request.method, request.path, request.headers, request.body
        request_id = _id("req_01")

        async def answer(status: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            head = [(b"content-type", b"application/json"), (b"request-id", request_id.encode())]
            await send({"type": "http.response.start", "status": status, "headers": head})
            await send({"type": "http.response.body", "body": data})

        async def reject(status: int, kind: str, message: str) -> None:
            await answer(status, _error(kind, message, request_id))

        key = headers.get("x-api-key")
        if not key:
            await reject(401, "authentication_error", "x-api-key header is required")
            return
        if self._fake.api_key is not None and key != self._fake.api_key:
            await reject(401, "authentication_error", "invalid x-api-key")
            return
        if "anthropic-version" not in headers:
            await reject(400, "invalid_request_error", "anthropic-version: header is required")
            return
        if method == "GET" and path == "/v1/models":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self._fake.models
            ]
            ids = [m["id"] for m in data] or [None]
            page = {"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}
            await answer(200, page)
            return
        if method == "POST" and path == "/v1/messages/count_tokens":
            # The real endpoint counts tokens; words are a stand-in a test can predict.
            counted = {**body, "max_tokens": 1} if isinstance(body, dict) else body
            if (problem := _validate(counted)) is not None:
                await reject(400, "invalid_request_error", problem)
                return
            prompt = " ".join(_text_of(m.get("content")) for m in body["messages"])
            await answer(200, {"input_tokens": len(prompt.split())})
            return
        if not (method == "POST" and path == "/v1/messages"):
            await reject(404, "not_found_error", "Not found")
            return
        if (problem := _validate(body)) is not None:
            await reject(400, "invalid_request_error", problem)
            return
        reply = self._fake.next_reply()
        stream = body.get("stream") is True
        if isinstance(reply, Error) and not (reply.mid_stream and stream):
            await reject(reply.status, reply.type, reply.message)
            return
        if isinstance(reply, Die) and not stream:
            await _drop(send, receive)
            return
        message = _plan(reply, body)
        if not stream:
            await answer(200, message)
            return
        head = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"request-id", request_id.encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": head})
        events = _events(message)
        if isinstance(reply, Error):
            error = {"type": "error", "error": {"type": reply.type, "message": reply.message}}
            events = [events[0], ("error", error)]
        text_deltas = 0
        for name, data in events:
            if isinstance(reply, Die) and data.get("delta", {}).get("type") == "text_delta":
                if text_deltas == reply.after_deltas:
                    await _drop(send, receive)
                    return
                text_deltas += 1
            await send({"type": "http.response.body", "body": _sse(name, data), "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _drop(send: Send, receive: Receive) -> None:
    """Close the TCP connection now, so the client sees a truncated answer."""
    # ASGI has no abort; uvicorn's send is a bound method of its request cycle, whose
    # transport closing flushes what was written and then sends FIN.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("fake Anthropic: no transport to drop")  # uvicorn then closes it
    transport.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            while (await receive())["type"] != "http.disconnect":
                pass


# -- the server --------------------------------------------------------------------


class FakeAnthropic(ThreadedServer):
    """A fake Anthropic API on loopback. Single use: start once, stop once.

    ``api_key``: the only key accepted (None accepts any non-empty key).
    """

    def __init__(self, models: Sequence[str] = ("claude-fake-1",), *, api_key: str | None = None):
        self.models: list[str] = list(models)
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        super().__init__(_App(self), label="Anthropic")
        self.base_url = f"{self.origin}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies; each POST /v1/messages consumes one, FIFO."""
        self._script.extend(replies)

    @property
    def pending_replies(self) -> int:
        return len(self._script)

    def next_reply(self) -> Reply | None:
        try:
            return self._script.popleft()
        except IndexError:
            return None

    def messages_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/messages"]
