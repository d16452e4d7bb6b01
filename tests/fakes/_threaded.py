"""What every fake backend shares: a uvicorn server on loopback in its own thread, and
the record of the requests it received.

A real server on a real socket (not an in-process transport), so streaming, timeouts
and dropped connections behave as they do in production; a thread with its own event
loop, so sync tests and async tests on any loop can use the same fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    body: Any  # parsed JSON, or None when absent or not JSON
    raw: bytes = b""
    query: str = ""


async def read_request(scope: Scope, receive: Receive) -> Recorded | None:
    """The whole request, or None when the client left before sending all of it."""
    raw = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key, val = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {val}" if key in headers else val
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    query = scope.get("query_string", b"").decode("latin-1")
    return Recorded(scope["method"], scope["path"], headers, body, bytes(raw), query)


class Recorder:
    """Requests in arrival order: appended on the server thread, read on the test thread.

    The list is only appended to (atomic under the GIL); the condition exists so tests
    can wait for an event instead of sleeping.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Change shared state inside this block; waiters re-check when it ends."""
        with self._changed:
            yield
            self._changed.notify_all()

    def record(self, request: Recorded) -> None:
        with self.changing():
            self.requests.append(request)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def wait_requests(self, count: int, timeout: float) -> bool:
        return self.wait_for(lambda: len(self.requests) >= count, timeout)


class ThreadedServer:
    """Serves ``app`` (HTTP only) on 127.0.0.1. Single use: start once, stop once.

    The listening socket is bound in the constructor, so ``port`` and ``origin`` are
    known (and connectable: the kernel queues connections) before ``start()``.
    ``on_stop`` runs on the server's loop when ``stop()`` begins, to cut short
    handlers that would otherwise hold uvicorn's graceful shutdown.
    """

    def __init__(self, app: App, *, label: str, on_stop: Callable[[], None] | None = None) -> None:
        self._http_app = app
        self._label = label  # e.g. "Managed Agents": names the thread and the errors
        self._on_stop = on_stop
        self._ready = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",  # a bound method, which uvicorn's sniffing takes for ASGI2
            lifespan="on",  # the startup message is how start() knows the loop is up
            loop="asyncio",
            log_config=None,  # never reconfigure the test process's logging
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http_app(scope, receive, send)
        elif scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    self._ready.set()
            await send({"type": "lifespan.shutdown.complete"})

    def start(self) -> Self:
        if self._thread is not None or self._stopped:
            raise RuntimeError(f"{type(self).__name__} is single use: start() it once")
        name = f"fake-{self._label.lower().replace(' ', '-')}-{self.port}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        # Wait in slices so a server thread that died during start-up fails us now,
        # not after the whole timeout.
        while not self._ready.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"fake {self._label} server did not start (see log for uvicorn errors)"
                )
        return self

    def _run(self) -> None:
        with asyncio.Runner() as runner:
            self._loop = runner.get_loop()
            runner.run(self._server.serve(sockets=[self._sock]))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; bounded: graceful for ``timeout``, then forced for as long."""
        if self._stopped:
            return
        self._stopped = True
        thread, loop = self._thread, self._loop
        if thread is None:
            self._sock.close()
            return
        if self._on_stop is not None and loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._on_stop)
        self._server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            # Skip uvicorn's graceful wait for connections; the loop's teardown then
            # cancels whatever is left.
            self._server.force_exit = True
            thread.join(timeout)
        self._sock.close()
        if thread.is_alive():
            raise RuntimeError(
                f"fake {self._label} server thread did not stop within {2 * timeout}s"
            )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
