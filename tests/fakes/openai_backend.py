"""A protocol-faithful fake OpenAI-compatible inference backend for tests.

It is a real HTTP server (uvicorn on 127.0.0.1, ephemeral port) running in its own
thread with its own event loop, so sync tests and async tests on any loop can use it,
and streaming, timeouts and dropped connections behave as they do over a real socket.

    with FakeOpenAI() as fake:
        fake.script(Text("hi"), ToolCalls([("get_time", "{}")]), Error(429, "slow down"))
        client = openai.OpenAI(base_url=fake.base_url, api_key="x")
        ...
        assert fake.requests[-1].body["model"] == "fake-model"

Without a script, chat answers ``"echo: " + <last user message text>``, embeddings
are deterministic unit vectors, and images are a 1x1 PNG.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from types import TracebackType

import uvicorn

from ._openai_app import FakeOpenAIApp, Recorded, State
from ._openai_replies import Chunks, Die, Error, Raw, Reply, Slow, Text, ToolCalls

__all__ = [
    "Chunks",
    "Die",
    "Error",
    "FakeOpenAI",
    "Raw",
    "Recorded",
    "Reply",
    "Slow",
    "Text",
    "ToolCalls",
]

_START_TIMEOUT = 10.0


class FakeOpenAI:
    """A fake OpenAI backend on loopback. Single use: start once, stop once.

    The listening socket is bound in the constructor, so ``port`` and ``base_url``
    are known (and connectable: the kernel queues connections) before ``start()``.
    """

    def __init__(
        self,
        models: Sequence[str] = ("fake-model",),
        *,
        require_api_key: str | None = None,
    ) -> None:
        self._state = State(models, require_api_key)
        self._ready = threading.Event()
        self._app = FakeOpenAIApp(self._state, self._ready.set)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            self._app,
            lifespan="on",  # the startup message is how start() knows the loop is up
            loop="asyncio",
            log_config=None,  # never reconfigure the test process's logging
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._thread is not None or self._stopped:
            raise RuntimeError("FakeOpenAI is single use: start() it once")
        self._thread = threading.Thread(
            target=self._run, name=f"fake-openai-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        # Wait in slices so a server thread that died during start-up fails us now,
        # not after the whole timeout.
        while not self._ready.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake OpenAI server did not start (see log for uvicorn errors)")
        return self

    def _run(self) -> None:
        with asyncio.Runner() as runner:
            self._loop = runner.get_loop()
            runner.run(self._server.serve(sockets=[self._sock]))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; in-flight slow replies are cancelled, so this is quick."""
        if self._stopped:
            return
        self._stopped = True
        thread, loop = self._thread, self._loop
        if thread is None:
            self._sock.close()
            return
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._app.abort_all)
        self._server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            # Skip uvicorn's graceful wait for connections; the loop's teardown then
            # cancels whatever is left.
            self._server.force_exit = True
            thread.join(timeout)
        self._sock.close()
        if thread.is_alive():
            raise RuntimeError(f"fake OpenAI server thread did not stop within {2 * timeout}s")

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- scripting and inspection ------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies; each chat/embeddings/images request consumes one, FIFO."""
        self._state.script.extend(replies)

    @property
    def pending_replies(self) -> int:
        """Scripted replies not consumed yet."""
        return len(self._state.script)

    @property
    def models(self) -> list[str]:
        """Ids served by ``GET /v1/models``; mutate it or assign a new list."""
        return self._state.models

    @models.setter
    def models(self, value: Iterable[str]) -> None:
        self._state.models = list(value)

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, in arrival order (including rejected ones)."""
        return self._state.requests

    @property
    def disconnects(self) -> int:
        """How many clients went away before their response was complete."""
        return self._state.disconnects

    def wait_disconnect(self, timeout: float = 5.0, count: int = 1) -> bool:
        """Wait until at least ``count`` early client disconnects were seen."""
        return self._state.wait_for(lambda: self._state.disconnects >= count, timeout)

    def wait_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` requests have arrived (e.g. before stopping
        a client that is blocked on a slow reply)."""
        return self._state.wait_for(lambda: len(self._state.requests) >= count, timeout)
