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

from collections.abc import Iterable, Sequence

from ._openai_app import FakeOpenAIApp, Recorded, State
from ._openai_replies import Chunks, Die, Error, Raw, Reply, Slow, Text, ToolCalls
from ._threaded import ThreadedServer

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


class FakeOpenAI(ThreadedServer):
    """A fake OpenAI backend on loopback. Single use: start once, stop once.

    ``port`` and ``base_url`` are known before ``start()``; ``stop()`` cancels
    in-flight slow replies, so it is quick.
    """

    def __init__(
        self,
        models: Sequence[str] = ("fake-model",),
        *,
        require_api_key: str | None = None,
    ) -> None:
        self._state = State(models, require_api_key)
        self._app = FakeOpenAIApp(self._state)
        super().__init__(self._app, label="OpenAI", on_stop=self._app.abort_all)
        self.base_url = f"{self.origin}/v1"

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
        return self._state.wait_requests(count, timeout)
