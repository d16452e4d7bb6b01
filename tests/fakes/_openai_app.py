"""The ASGI application behind ``FakeOpenAI``: routing, recording and scripted replies.

It is a bare ASGI callable rather than a Starlette app because the fake must control
the wire exactly: when the first byte goes out, when a stream stops without its
terminator, and when the TCP connection is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _openai_wire as wire
from ._openai_chat import chat_plan
from ._openai_replies import Die, Error, Raw, Reply, Slow
from ._threaded import Receive, Recorded, Recorder, Scope, Send, read_request

__all__ = ["Exchange", "FakeOpenAIApp", "Receive", "Recorded", "Scope", "Send", "State"]

IMAGE_PATH = "/images/fake.png"
_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"


class State(Recorder):
    """Everything the test thread and the server thread share.

    Lists and deques are only appended to / popped from (atomic under the GIL).
    """

    def __init__(self, models: Sequence[str], require_api_key: str | None) -> None:
        super().__init__()
        self.models: list[str] = list(models)
        self.require_api_key = require_api_key
        self.script: deque[Reply] = deque()
        self.disconnects = 0

    def note_disconnect(self) -> None:
        with self.changing():
            self.disconnects += 1

    def next_reply(self) -> Reply | None:
        try:
            return self.script.popleft()
        except IndexError:
            return None


class _DropConnection(Exception):
    """Raised only if the server gives no transport to close (see ``Exchange.drop``)."""


@dataclass
class Exchange:
    """One request/response: tracks how far the response got, so the app can tell a
    client that left early from one that was simply done."""

    scope: Scope
    receive: Receive
    send: Send
    started: bool = False
    completed: bool = False
    dropped: bool = False
    request_id: str = field(default_factory=lambda: wire.new_id("req_"))

    async def start(self, status: int, content_type: str, extra: Mapping[str, str] | None) -> None:
        headers = [
            (b"content-type", content_type.encode()),
            (b"x-request-id", self.request_id.encode()),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, data: bytes, *, last: bool = False) -> None:
        # Flag completion before the final send: once it is written, uvicorn reports
        # the request as disconnected, and that must not count as the client leaving.
        self.completed = self.completed or last
        await self.send({"type": "http.response.body", "body": data, "more_body": not last})

    async def send_bytes(
        self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> None:
        await self.start(status, content_type, {"content-length": str(len(body)), **(extra or {})})
        await self.write(body, last=True)

    async def send_json(
        self, status: int, obj: Any, extra: Mapping[str, str] | None = None
    ) -> None:
        await self.send_bytes(status, wire.dumps(obj), _JSON, extra)

    async def send_error(self, status: int, message: str, type_: str, **kw: Any) -> None:
        await self.send_json(status, wire.error_body(message, type_, **kw))

    async def drop(self) -> None:
        """Close the TCP connection now, whatever has or has not been sent."""
        # ASGI has no "abort" message. uvicorn's ``send`` is a bound method of its
        # request cycle, which holds the transport; closing it flushes what was already
        # written and then sends FIN, so the client sees a truncated response.
        transport = getattr(getattr(self.send, "__self__", None), "transport", None)
        if transport is None:
            # Fallback: uvicorn closes the connection of an app that fails mid-response
            # (before the response starts it answers 500, which is the best it can do).
            raise _DropConnection("no transport to close")
        self.dropped = True
        transport.close()

    async def wait_disconnect(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass


def _missing(param: str) -> dict[str, Any]:
    return wire.error_body(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


class FakeOpenAIApp:
    """Serves the OpenAI routes from a ``State``; one instance per ``FakeOpenAI``."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._active: set[asyncio.Task[None]] = set()
        self._stopping = False

    def abort_all(self) -> None:
        """Cancel in-flight handlers (slow replies, paced streams) so shutdown is quick.

        Runs on the server's loop, scheduled from ``FakeOpenAI.stop``.
        """
        self._stopping = True
        for task in list(self._active):
            task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange(scope, receive, send)
        request = await read_request(scope, receive)
        if request is None:
            return
        self._state.record(request)
        method, path, headers, body = request.method, request.path, request.headers, request.body
        await self._supervise(ex, self._route(ex, method, path, headers, body, bool(request.raw)))

    async def _supervise(self, ex: Exchange, work: Awaitable[None]) -> None:
        """Run a handler while watching for the client to go away.

        uvicorn's ``send`` silently discards writes after a disconnect, so a
        streaming handler would never notice on its own; the watcher turns the
        disconnect into a cancellation and a count tests can wait on.
        """
        handler = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(ex.wait_disconnect())
        self._active.add(handler)
        if self._stopping:
            handler.cancel()
        try:
            await asyncio.wait((handler, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._active.discard(handler)
        if not handler.done():
            handler.cancel()
            await asyncio.wait((handler,))
            if not (ex.completed or ex.dropped):
                self._state.note_disconnect()
            return
        if ex.dropped:
            # Let uvicorn see the close we caused before we return, or it logs the
            # response as incomplete and tries to close the transport again.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher, 1.0)
            return
        watcher.cancel()
        if handler.cancelled():  # stop() is shutting the server down
            if not ex.started:
                await ex.send_error(503, "The fake backend is shutting down.", "server_error")
            elif not ex.completed:
                await ex.drop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ex.wait_disconnect(), 1.0)
            return
        handler.result()  # a bug in the fake: let uvicorn log it and answer 500

    def _auth_error(self, headers: Mapping[str, str]) -> dict[str, Any] | None:
        key = self._state.require_api_key
        if key is None:
            return None
        given = headers.get("authorization", "")
        if given == f"Bearer {key}":
            return None
        if not given.startswith("Bearer ") or given == "Bearer ":
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = f"Incorrect API key provided: {given.removeprefix('Bearer ')[:8]}****."
        return wire.error_body(message, code="invalid_api_key")

    async def _route(
        self,
        ex: Exchange,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: Any,
        has_body: bool,
    ) -> None:
        if method == "GET" and path == IMAGE_PATH:  # a "CDN" URL: no auth, like the real one
            await ex.send_bytes(200, wire.PNG_1X1, "image/png")
            return
        if (denied := self._auth_error(headers)) is not None:
            await ex.send_json(401, denied)
            return
        if method == "GET" and path == "/v1/models":
            await ex.send_json(
                200, {"object": "list", "data": [_model(m) for m in self._state.models]}
            )
            return
        if method == "GET" and path.startswith("/v1/models/"):
            name = path.removeprefix("/v1/models/")
            if name in self._state.models:
                await ex.send_json(200, _model(name))
            else:
                await ex.send_error(
                    404,
                    f"The model '{name}' does not exist",
                    "invalid_request_error",
                    param="model",
                    code="model_not_found",
                )
            return
        handlers = {
            "/v1/chat/completions": self._chat,
            "/v1/embeddings": self._embeddings,
            "/v1/images/generations": self._images,
        }
        handler = handlers.get(path) if method == "POST" else None
        if handler is None:
            await ex.send_error(404, f"Invalid URL ({method} {path})", "invalid_request_error")
            return
        if not isinstance(body, dict):
            await ex.send_error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                f"but what was sent was {'not valid JSON' if has_body else 'empty'}.)",
                "invalid_request_error",
            )
            return
        reply = self._state.next_reply()
        while isinstance(reply, Slow):
            await asyncio.sleep(reply.delay)
            reply = reply.then
        if isinstance(reply, Error):
            await ex.send_json(
                reply.status,
                wire.error_body(reply.message, reply.type, param=reply.param, code=reply.code),
                reply.headers,
            )
        elif isinstance(reply, Raw):
            await ex.send_bytes(reply.status, reply.body, reply.content_type, reply.headers)
        elif isinstance(reply, Die) and not (
            path == "/v1/chat/completions" and body.get("stream") is True
        ):
            await ex.drop()  # nothing is streamed, so "dying" means no response at all
        elif "model" not in body:
            await ex.send_error(400, "you must provide a model parameter", "invalid_request_error")
        else:
            await handler(ex, body, reply)

    async def _chat(self, ex: Exchange, body: dict[str, Any], reply: Reply | None) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list):
            await ex.send_json(400, _missing("messages"))
            return
        plan = chat_plan(reply, messages)
        cid, created, model = wire.new_id("chatcmpl-"), int(time.time()), str(body["model"])
        usage = plan.usage or wire.usage(wire.prompt_tokens(messages), plan.completion_tokens)
        if body.get("stream") is not True:
            message = wire.assistant_message(plan.content, plan.tool_calls)
            await ex.send_json(
                200,
                wire.chat_completion(
                    id_=cid,
                    created=created,
                    model=model,
                    message=message,
                    finish_reason=plan.finish_reason,
                    usage_=usage,
                ),
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def event(delta: Mapping[str, Any] | None, finish: str | None = None) -> bytes:
            return wire.sse(
                wire.chunk(
                    id_=cid,
                    created=created,
                    model=model,
                    delta=delta,
                    finish_reason=finish,
                    with_usage_field=include_usage,
                    usage_=usage if delta is None else None,
                )
            )

        await ex.start(200, _SSE, {"cache-control": "no-cache"})
        for delay, delta in plan.steps:
            if delay:
                await asyncio.sleep(delay)
            await ex.write(event(delta))
        if isinstance(reply, Die):
            await ex.drop()
            return
        await ex.write(event({}, plan.finish_reason))
        if include_usage:
            await ex.write(event(None))
        await ex.write(wire.SSE_DONE, last=True)

    async def _embeddings(self, ex: Exchange, body: dict[str, Any], reply: Reply | None) -> None:
        if reply is not None:
            await _misuse(ex, reply, "/v1/embeddings")
            return
        given = body.get("input")
        if isinstance(given, str) or (
            isinstance(given, list) and given and isinstance(given[0], int)
        ):
            inputs: list[Any] = [given]
        elif isinstance(given, list) and given:
            inputs = given
        else:
            await ex.send_json(400, _missing("input"))
            return
        dim = body.get("dimensions") or wire.EMBEDDING_DIM
        texts = [i if isinstance(i, str) else json.dumps(i) for i in inputs]
        data = [
            {
                "object": "embedding",
                "index": n,
                "embedding": wire.encode_embedding(
                    wire.embedding_vector(t, dim), body.get("encoding_format")
                ),
            }
            for n, t in enumerate(texts)
        ]
        tokens = sum(wire.rough_tokens(t) for t in texts)
        await ex.send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def _images(self, ex: Exchange, body: dict[str, Any], reply: Reply | None) -> None:
        if reply is not None:
            await _misuse(ex, reply, "/v1/images/generations")
            return
        if not isinstance(body.get("prompt"), str):
            await ex.send_json(400, _missing("prompt"))
            return
        if body.get("response_format") == "url":
            host = dict(ex.scope["headers"]).get(b"host", b"127.0.0.1").decode()
            item: dict[str, str] = {"url": f"http://{host}{IMAGE_PATH}"}
        else:
            item = {"b64_json": wire.PNG_1X1_B64}
        n = int(body.get("n") or 1)
        await ex.send_json(
            200, {"created": int(time.time()), "data": [dict(item) for _ in range(n)]}
        )


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"}


async def _misuse(ex: Exchange, reply: Reply, path: str) -> None:
    # A scripted chat reply reaching another endpoint is a test bug; say so loudly.
    await ex.send_error(
        500, f"fake: scripted reply {reply!r} cannot answer {path}", "fake_script_error"
    )
