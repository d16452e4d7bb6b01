"""Protocol-faithful fake AI devices: a box that holds a few models in memory at once.

Two management protocols over one model store, each a real HTTP server on loopback:

- ``FakeOllamaDevice``: Ollama's ``GET /api/ps`` (``models[]`` with ``name``, ``model``,
  ``size``, ``expires_at``), ``POST /api/generate`` with no prompt, which loads a model
  (``done_reason: "load"``) or, with ``keep_alive: 0``, unloads it (``"unload"``), and
  an unknown model answered 404 ``{"error": "model 'x' not found, try pulling it first"}``.
- ``FakeRestDevice``: the ``device`` management API, ``GET /api/v1/models/running``
  (``{"instances": {"running": [{"model", "capabilities", "state"}]}}``) and ``POST
  /api/v1/models/start`` / ``stop`` with ``{"model": id}``.

Both serve inference on the OpenAI-compatible ``/v1/chat/completions`` (plain and
streamed) and ``/v1/embeddings``, and, like the engines they stand for, load a model a
request names if it is not loaded. Loading takes ``load_delay`` seconds, one load at
a time; past ``memory`` (the sum of model sizes) the least recently used model is
evicted, and requests in flight on an evicted model fail (500, or the connection is
dropped) as they do on a real box. Switches for tests: ``hold(model)``/``let_go``
keep answers waiting, ``fail_next``/``drop_next`` fault the next inference, ``forget``
unloads a model behind the router's back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._threaded import Receive, Recorded, Recorder, Scope, Send, ThreadedServer, read_request

_JSON = "application/json"


@dataclass(frozen=True)
class Model:
    size: int = 1
    capabilities: tuple[str, ...] = ("completion",)


class _Evicted(Exception):
    pass


@dataclass
class DeviceState(Recorder):
    catalog: Mapping[str, Model]
    memory: int
    load_delay: float
    infer_delay: float = 0.0
    loaded: dict[str, float] = field(default_factory=dict)  # model -> last use, LRU order
    loads: list[str] = field(default_factory=list)
    unloads: list[str] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)
    aborted: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # "500" or "drop", consumed in order
    held: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        Recorder.__init__(self)


class _DeviceApp:
    def __init__(self, state: DeviceState, protocol: str):
        self.state = state
        self.protocol = protocol
        self._load_lock: asyncio.Lock | None = None
        self._generation: dict[str, int] = {}  # bumped on every unload: in-flight work dies
        self._wake: asyncio.Event | None = None

    # -- the model store -------------------------------------------------------------

    async def load(self, model: str) -> None:
        state = self.state
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if model in state.loaded:
                state.loaded[model] = time.monotonic()
                return
            need = state.catalog[model].size
            while (
                state.loaded
                and sum(state.catalog[m].size for m in state.loaded) + need > state.memory
            ):
                victim = min(state.loaded, key=state.loaded.__getitem__)
                self.unload(victim)
            await asyncio.sleep(state.load_delay)
            with state.changing():
                state.loaded[model] = time.monotonic()
                state.loads.append(model)

    def unload(self, model: str) -> None:
        state = self.state
        with state.changing():
            if state.loaded.pop(model, None) is not None:
                state.unloads.append(model)
                self._generation[model] = self._generation.get(model, 0) + 1
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = asyncio.Event()

    # -- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        request = await read_request(scope, receive)
        if request is None:
            return
        self.state.record(request)
        body = request.body if isinstance(request.body, dict) else {}
        path, method = request.path, request.method
        if path in ("/v1/chat/completions", "/v1/embeddings") and method == "POST":
            await self._infer(request, body, send)
        elif self.protocol == "ollama" and path == "/api/ps" and method == "GET":
            await _json(send, 200, {"models": [self._ps(m) for m in self.state.loaded]})
        elif self.protocol == "ollama" and path == "/api/generate" and method == "POST":
            await self._ollama_generate(body, send)
        elif self.protocol == "device" and path == "/api/v1/models/running" and method == "GET":
            running = [
                {
                    "model": m,
                    "capabilities": list(self.state.catalog[m].capabilities),
                    "state": "ready",
                }
                for m in self.state.loaded
            ]
            await _json(send, 200, {"instances": {"running": running}})
        elif self.protocol == "device" and path in ("/api/v1/models/start", "/api/v1/models/stop"):
            await self._device_call(path.rsplit("/", 1)[1], body, send)
        else:
            await _json(send, 404, {"error": f"no route {method} {path}"})

    def _ps(self, model: str) -> dict[str, Any]:
        size = self.state.catalog[model].size * 1_000_000_000
        return {
            "name": model,
            "model": model,
            "size": size,
            "size_vram": size,
            "digest": f"{abs(hash(model)):064x}"[:64],
            "details": {"format": "gguf", "family": "fake"},
            "expires_at": "2099-01-01T00:00:00Z",
        }

    async def _ollama_generate(self, body: dict[str, Any], send: Send) -> None:
        model = body.get("model")
        if model not in self.state.catalog:
            await _json(send, 404, {"error": f"model '{model}' not found, try pulling it first"})
            return
        done = {"model": model, "created_at": "2026-01-01T00:00:00Z", "response": "", "done": True}
        if body.get("keep_alive") in (0, "0", "0s", "0m"):
            self.unload(model)
            await _json(send, 200, {**done, "done_reason": "unload"})
            return
        await self.load(model)
        await _json(send, 200, {**done, "done_reason": "load"})

    async def _device_call(self, verb: str, body: dict[str, Any], send: Send) -> None:
        model = body.get("model")
        if model not in self.state.catalog:
            await _json(send, 404, {"error": {"message": f"unknown model {model!r}"}})
            return
        if verb == "start":
            await self.load(model)
        else:
            self.unload(model)
        await _json(
            send, 200, {"model": model, "status": "running" if verb == "start" else "stopped"}
        )

    async def _infer(self, request: Recorded, body: dict[str, Any], send: Send) -> None:
        state = self.state
        model = body.get("model")
        if model not in state.catalog:
            await _json(
                send,
                404,
                {
                    "error": {
                        "message": f"model {model!r} not found",
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                },
            )
            return
        if state.faults:
            fault = state.faults.pop(0)
            if fault == "drop":
                transport = getattr(getattr(send, "__self__", None), "transport", None)
                if transport is not None:
                    transport.close()
                    return
            await _json(
                send, 500, {"error": {"message": "the device failed", "type": "server_error"}}
            )
            return
        await self.load(model)
        generation = self._generation.get(model, 0)
        with state.changing():
            state.in_flight[model] = state.in_flight.get(model, 0) + 1
            state.most_in_flight[model] = max(
                state.most_in_flight.get(model, 0), state.in_flight[model]
            )
        try:
            await self._work(model, generation)
        except _Evicted:
            with state.changing():
                state.aborted += 1
            await _json(
                send,
                500,
                {
                    "error": {
                        "message": f"model {model!r} was unloaded mid-answer",
                        "type": "server_error",
                    }
                },
            )
            return
        finally:
            with state.changing():
                state.in_flight[model] -= 1
        with state.changing():
            state.served[model] = state.served.get(model, 0) + 1
            if model in state.loaded:
                state.loaded[model] = time.monotonic()
        if request.path == "/v1/embeddings":
            await _json(
                send,
                200,
                {
                    "object": "list",
                    "model": model,
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    "data": [{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}],
                },
            )
            return
        text = f"{model} says hi"
        if body.get("stream"):
            await _sse(send, model, text)
            return
        await _json(
            send,
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            },
        )

    async def _work(self, model: str, generation: int) -> None:
        deadline = time.monotonic() + self.state.infer_delay
        while True:
            if self._generation.get(model, 0) != generation:
                raise _Evicted
            remaining = deadline - time.monotonic()
            if remaining <= 0 and model not in self.state.held:
                return
            assert self._wake is not None
            wake = self._wake
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=remaining if remaining > 0 else 0.05)


async def _json(send: Send, status: int, body: Any) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", _JSON.encode()), (b"content-length", b"%d" % len(raw))],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _sse(send: Send, model: str, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    for delta, finish in (({"role": "assistant", "content": text}, None), ({}, "stop")):
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        await send(
            {
                "type": "http.response.body",
                "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                "more_body": True,
            }
        )
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


class _FakeDevice(ThreadedServer):
    protocol = ""

    def __init__(
        self,
        catalog: Mapping[str, Model] | None = None,
        *,
        memory: int = 2,
        load_delay: float = 0.0,
        infer_delay: float = 0.0,
    ):
        catalog = catalog if catalog is not None else {"m1": Model(), "m2": Model(), "m3": Model()}
        self.state = DeviceState(dict(catalog), memory, load_delay, infer_delay)
        self._app = _DeviceApp(self.state, self.protocol)
        super().__init__(self._app, label=f"{self.protocol} device", on_stop=self._app._poke)
        self.base_url = f"{self.origin}/v1"

    def _on_loop(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def hold(self, model: str) -> None:
        """Answers for `model` wait until `let_go(model)`."""
        self.state.held.add(model)

    def let_go(self, model: str | None = None) -> None:
        if model is None:
            self.state.held.clear()
        else:
            self.state.held.discard(model)
        self._on_loop(self._app._poke)

    def preload(self, *models: str) -> None:
        """Models the device holds before the test starts (loaded out of band)."""
        for model in models:
            self.state.loaded[model] = time.monotonic()

    def forget(self, model: str) -> None:
        """The device loses `model` behind the router's back (a crash, another client)."""
        self._on_loop(self._app.unload, model)

    def fail_next(self, *faults: str) -> None:
        """The next inferences fail: "500" answers an error, "drop" closes the connection."""
        self.state.faults.extend(faults)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        return self.state.wait_for(predicate, timeout)

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests

    def management_calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if not r.path.startswith("/v1/")]


class FakeOllamaDevice(_FakeDevice):
    protocol = "ollama"


class FakeRestDevice(_FakeDevice):
    protocol = "device"
