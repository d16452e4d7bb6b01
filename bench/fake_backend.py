"""A deliberately fast fake OpenAI-compatible backend for the benchmark.

It is a raw asyncio protocol on uvloop with httptools parsing (no ASGI framework),
so that the backend costs as little as possible and the numbers measure the router,
not the fake. It serves:

- ``POST /v1/chat/completions``: a small ``chat.completion`` JSON, or with
  ``"stream": true`` an SSE stream of ``STREAM_CHUNKS`` ``chat.completion.chunk``
  events then ``data: [DONE]``, with no delays (or ``bench_interval_ms`` apart, when
  the request has that field);
- ``GET /v1/models``.

Run: ``python bench/fake_backend.py [--port 0]``. It binds 127.0.0.1 only, prints
``LISTENING 127.0.0.1:<port>`` on stdout once ready, and exits on SIGTERM/SIGINT,
when its parent process goes away, or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from typing import cast

import httptools
import uvloop

STREAM_CHUNKS = 50
CREATED = int(time.time())

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


def _head(status: int, ctype: bytes, length: int | None, keep_alive: bool) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS[status]), b"content-type: " + ctype]
    if length is None:
        # Chunked, like real streaming servers (vLLM, llama.cpp, OpenAI) send SSE.
        lines.append(b"transfer-encoding: chunked")
        lines.append(b"cache-control: no-cache")
    else:
        lines.append(b"content-length: %d" % length)
    lines.append(b"connection: keep-alive" if keep_alive else b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _json_response(status: int, obj: object, keep_alive: bool) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return _head(status, b"application/json", len(body), keep_alive) + body


def completion(model: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the fake backend."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
    }


def _wants_tool(req: dict[str, object]) -> bool:
    # Recipe benchmarks: a request offering tools gets one tool call, and the turn
    # after the tool result gets the plain answer, so a recipe costs two turns.
    messages = req.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else {}
    return bool(req.get("tools")) and isinstance(last, dict) and last.get("role") != "tool"


def tool_call(model: str, req: dict[str, object]) -> dict[str, object]:
    tools = req["tools"]
    assert isinstance(tools, list)
    name = tools[0]["function"]["name"]
    answer = completion(model)
    answer["choices"] = [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_bench",
                        "type": "function",
                        "function": {"name": name, "arguments": '{"text": "one two three"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ]
    return answer


def stream_events(model: str) -> list[bytes]:
    """The SSE events of one streamed answer, each framed as one HTTP chunk.

    Every event carries non-empty content (the first also the role), so a client's
    "first chunk with content" is the first event.
    """
    events: list[bytes] = []
    for i in range(STREAM_CHUNKS):
        delta: dict[str, str] = {"content": f"tok{i} "}
        if i == 0:
            delta = {"role": "assistant", **delta}
        last = i == STREAM_CHUNKS - 1
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}],
        }
        events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return [b"%x\r\n%s\r\n" % (len(e), e) for e in events]


MODELS_BODY = {
    "object": "list",
    "data": [{"id": "m", "object": "model", "created": CREATED, "owned_by": "bench"}],
}

# Pre-rendered per model name: the response only depends on the model echoed back.
_stream_cache: dict[str, list[bytes]] = {}


class HttpProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in arrival order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_json_response(400, {"error": "bad request"}, False))
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        keep = self.parser.should_keep_alive()
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/chat/completions":
            self._chat(t, keep)
        elif method == b"GET" and path == b"/v1/models":
            t.write(_json_response(200, MODELS_BODY, keep))
        else:
            err = {"error": {"message": "not found", "type": "invalid_request_error"}}
            t.write(_json_response(404, err, keep))
        if not keep:
            t.close()

    def _chat(self, t: asyncio.Transport, keep: bool) -> None:
        try:
            req = json.loads(b"".join(self.body))
            model = str(req.get("model", "m"))
            stream = bool(req.get("stream", False))
        except (ValueError, AttributeError):
            t.write(_json_response(400, {"error": {"message": "bad json"}}, keep))
            return
        if not stream:
            answer = tool_call(model, req) if _wants_tool(req) else completion(model)
            t.write(_json_response(200, answer, keep))
            return
        events = _stream_cache.get(model)
        if events is None:
            events = _stream_cache[model] = stream_events(model)
        t.write(_head(200, b"text/event-stream", None, keep))
        interval = req.get("bench_interval_ms")
        if isinstance(interval, int | float) and interval > 0:
            _drip(t, events, interval / 1000.0)
            return
        # One write per event, as a token-streaming server flushes per token: the
        # router under test then sees a stream of small reads, not one blob.
        for ev in events:
            t.write(ev)
        t.write(b"0\r\n\r\n")


def _drip(t: asyncio.Transport, events: list[bytes], interval: float) -> None:
    """The events `interval` seconds apart, as a model generates tokens: what keeps a
    thousand streams open at once (bench/streams.py)."""
    loop = asyncio.get_running_loop()
    pieces = [*events, b"0\r\n\r\n"]
    start = loop.time()

    # One timer per stream at a time, each piece scheduling the next: with all of a
    # thousand streams' pieces scheduled up front (50,000 timers), one piece in a few
    # thousand streams was seen never to be written.
    def write(i: int) -> None:
        if t.is_closing():
            return
        t.write(pieces[i])
        if i + 1 < len(pieces):
            loop.call_at(start + (i + 1) * interval, write, i + 1)

    write(0)


async def serve(port: int, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"LISTENING 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    deadline = time.monotonic() + max_seconds
    # Bounded watchdog: exit if orphaned or past the lifetime bound, so a crashed
    # benchmark never leaves this server behind.
    while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    server.close()
    await server.wait_closed()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    args = ap.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.port, args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
