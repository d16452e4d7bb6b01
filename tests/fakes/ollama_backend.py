"""A protocol-faithful fake Ollama server for tests, written from Ollama's API docs.

Native API: ``POST /api/chat`` (one JSON object, or ``application/x-ndjson`` lines when
``stream`` is true or absent — Ollama streams by default) and ``GET /api/tags``.
OpenAI layer: ``POST /v1/chat/completions`` and ``GET /v1/models``, a minimal echo so
the default path can be tested against the same server.

    with FakeOllama(models=["qwen3:0.6b"]) as fake:
        fake.script(Text("hi"), ToolCalls([("get_time", {"tz": "UTC"})]), Error(404, "..."))
        ...  # point a client at fake.url (native) or fake.base_url (OpenAI layer)
        assert fake.requests[-1].path == "/api/chat"

Unscripted ``/api/chat`` answers ``"echo: " + <last user message>``; scripts are used
by ``/api/chat`` only, one reply per request, FIFO.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import _openai_wire as wire
from ._openai_app import Exchange, State
from ._threaded import Receive, Recorded, Scope, Send, ThreadedServer, read_request

__all__ = ["Die", "Error", "FakeOllama", "Recorded", "Stall", "StreamError", "Text", "ToolCalls"]

_JSON = "application/json; charset=utf-8"
_NDJSON = "application/x-ndjson"
_SSE = "text/event-stream"


@dataclass(frozen=True)
class Text:
    """An answer; streamed as ``thinking`` pieces, then word-sized content pieces."""

    content: str
    thinking: str | None = None
    done_reason: str = "stop"


@dataclass(frozen=True)
class ToolCalls:
    """Tool calls as ``(name, arguments_object)``; Ollama streams them whole, in one line."""

    calls: Sequence[tuple[str, dict[str, Any]]]
    content: str = ""


@dataclass(frozen=True)
class Error:
    """Ollama's error shape, ``{"error": message}``, with this status before any byte."""

    status: int
    message: str


@dataclass(frozen=True)
class StreamError:
    """A 200 stream: ``after_chunks`` content lines, then an ``{"error": ...}`` line."""

    message: str
    after_chunks: int = 1


@dataclass(frozen=True)
class Die:
    """Streaming: ``after_chunks`` content lines, then the TCP connection drops.
    Non-streaming: the connection drops with no answer at all."""

    after_chunks: int = 1


@dataclass(frozen=True)
class Stall:
    """Never answer; hold the request until the client gives up (for timeouts)."""


Reply = Text | ToolCalls | Error | StreamError | Die | Stall


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _known(model: str, models: Sequence[str]) -> bool:
    # Ollama resolves a bare name to its ":latest" tag.
    return model in models or f"{model}:latest" in models


@dataclass
class _Answer:
    """What one reply streams: message lines (without envelope), then the done line."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    done_reason: str = "stop"


def _plan(reply: Reply | None, messages: Sequence[Any]) -> _Answer:
    if reply is None:
        reply = Text("echo: " + wire.last_user_text(messages))
    answer = _Answer()
    if isinstance(reply, Text):
        answer.done_reason = reply.done_reason
        thoughts = wire.split_words(reply.thinking or "")
        answer.lines += [{"content": "", "thinking": t} for t in thoughts]
        answer.lines += [{"content": w} for w in wire.split_words(reply.content)]
    elif isinstance(reply, ToolCalls):
        answer.lines += [{"content": w} for w in wire.split_words(reply.content)]
        calls = [{"function": {"name": n, "arguments": dict(a)}} for n, a in reply.calls]
        answer.lines.append({"content": "", "tool_calls": calls})
    elif isinstance(reply, StreamError | Die):
        answer.lines += [{"content": f"tok{i} "} for i in range(reply.after_chunks)]
    return answer


class _OllamaApp:
    def __init__(self, state: State) -> None:
        self._state = state
        self._active: set[asyncio.Task[None]] = set()

    def abort_all(self) -> None:
        for task in list(self._active):
            task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            await self._http(Exchange(scope, receive, send))
        except asyncio.CancelledError:
            pass  # stopped by abort_all: the server is shutting down
        finally:
            self._active.discard(task)

    async def _http(self, ex: Exchange) -> None:
        request = await read_request(ex.scope, ex.receive)
        if request is None:
            return
        self._state.record(request)
        method, path, body = request.method, request.path, request.body
        if method == "GET" and path == "/api/tags":
            tags = {"models": [_tag(m) for m in self._state.models]}
            await ex.send_bytes(200, wire.dumps(tags), _JSON)
        elif method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "library"}
                for m in self._state.models
            ]
            await ex.send_bytes(200, wire.dumps({"object": "list", "data": data}), _JSON)
        elif method == "POST" and path == "/api/chat":
            await self._chat(ex, body)
        elif method == "POST" and path == "/v1/chat/completions":
            await self._openai_chat(ex, body)
        else:
            await ex.send_bytes(404, b"404 page not found", "text/plain")

    async def _chat(self, ex: Exchange, body: Any) -> None:
        if not isinstance(body, dict):
            await self._error(ex, 400, "unexpected EOF" if body is None else "invalid request")
            return
        model = body.get("model")
        if not model:
            await self._error(ex, 400, "model is required")
            return
        if not _known(model, self._state.models):
            await self._error(ex, 404, f"model '{model}' not found")
            return
        messages = body.get("messages") or []
        streaming = body.get("stream", True) is not False
        reply = self._state.next_reply()
        if isinstance(reply, Error):
            await self._error(ex, reply.status, reply.message)
            return
        if isinstance(reply, Stall):
            await ex.wait_disconnect()
            return
        if isinstance(reply, Die) and not streaming:
            await ex.drop()
            return
        plan = _plan(reply, messages)
        prompt = wire.prompt_tokens(messages)
        final = {
            "done": True,
            "done_reason": plan.done_reason,
            "total_duration": 1_000_000,
            "load_duration": 100_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 200_000,
            "eval_count": len(plan.lines),
            "eval_duration": 700_000,
        }
        if not streaming:
            message: dict[str, Any] = {"role": "assistant", "content": ""}
            for line in plan.lines:
                message["content"] += line["content"]
                if "thinking" in line:
                    message["thinking"] = message.get("thinking", "") + line["thinking"]
                if "tool_calls" in line:
                    message["tool_calls"] = line["tool_calls"]
            answer = {"model": model, "created_at": _now(), "message": message, **final}
            await ex.send_bytes(200, wire.dumps(answer), _JSON)
            return
        await ex.start(200, _NDJSON, None)
        for line in plan.lines:
            chunk = {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", **line},
                "done": False,
            }
            await ex.write(wire.dumps(chunk) + b"\n")
        if isinstance(reply, Die):
            await ex.drop()
            return
        if isinstance(reply, StreamError):
            await ex.write(wire.dumps({"error": reply.message}) + b"\n", last=True)
            return
        done = {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            **final,
        }
        await ex.write(wire.dumps(done) + b"\n", last=True)

    async def _error(self, ex: Exchange, status: int, message: str) -> None:
        await ex.send_bytes(status, wire.dumps({"error": message}), _JSON)

    async def _openai_chat(self, ex: Exchange, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            await ex.send_bytes(400, wire.dumps(wire.error_body("invalid request")), _JSON)
            return
        model = str(body.get("model"))
        if not _known(model, self._state.models):
            error = wire.error_body(
                f'model "{model}" not found, try pulling it first', "not_found_error"
            )
            await ex.send_bytes(404, wire.dumps(error), _JSON)
            return
        text = "echo: " + wire.last_user_text(body["messages"])
        cid, created = wire.new_id("chatcmpl-"), int(time.time())
        usage = wire.usage(wire.prompt_tokens(body["messages"]), wire.rough_tokens(text))
        if body.get("stream") is not True:
            completion = wire.chat_completion(
                id_=cid,
                created=created,
                model=model,
                finish_reason="stop",
                usage_=usage,
                message=wire.assistant_message(text, []),
            )
            await ex.send_bytes(200, wire.dumps(completion), _JSON)
            return
        await ex.start(200, _SSE, None)
        for delta, finish in (
            ({"role": "assistant", "content": ""}, None),
            ({"content": text}, None),
            ({}, "stop"),
        ):
            chunk = wire.chunk(
                id_=cid, created=created, model=model, delta=delta, finish_reason=finish
            )
            await ex.write(wire.sse(chunk))
        await ex.write(wire.SSE_DONE, last=True)


def _tag(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-01-01T00:00:00.000000Z",
        "size": 522653767,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "qwen3",
            "families": ["qwen3"],
            "parameter_size": "751.63M",
            "quantization_level": "Q4_K_M",
        },
    }


class FakeOllama(ThreadedServer):
    """A fake Ollama on loopback. Single use: start once, stop once.

    ``url`` is the server root (what ``OLLAMA_HOST`` names); ``base_url`` its OpenAI layer.
    """

    def __init__(self, models: Sequence[str] = ("qwen3:0.6b",)) -> None:
        self._state = State(models, None)
        self._app = _OllamaApp(self._state)
        super().__init__(self._app, label="Ollama", on_stop=self._app.abort_all)
        self.url = self.origin
        self.base_url = f"{self.url}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies; each ``/api/chat`` request consumes one, FIFO."""
        self._state.script.extend(replies)  # type: ignore[arg-type]

    def reset(self) -> None:
        """Drop unconsumed replies, so one test's leftovers cannot answer the next."""
        self._state.script.clear()

    @property
    def pending_replies(self) -> int:
        return len(self._state.script)

    @property
    def models(self) -> list[str]:
        return self._state.models

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, in arrival order."""
        return self._state.requests

    def wait_requests(self, count: int, timeout: float = 5.0) -> bool:
        return self._state.wait_requests(count, timeout)
