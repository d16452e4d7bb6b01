"""A backend that answers with scripted raw HTTP/1.1 bytes, for what a framework
would not let a fake do: an answer without a length, a connection closed after
answering or while idle, a stream that stalls, bytes that are not HTTP.

A real server on 127.0.0.1 (asyncio streams in a thread of their own), counting the
connections it accepts, so tests can see whether a client reused one.

    with RawBackend() as backend:
        backend.script(Answer(json_answer(b'{"ok": true}'), close=True))
        ...
        assert backend.connections == 1
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

_TIMEOUT = 10.0

CHAT = (
    b'{"id":"chatcmpl-raw","object":"chat.completion","created":1,"model":"m",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"raw"},'
    b'"finish_reason":"stop"}]}'
)


def json_answer(body: bytes = CHAT, *, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n%s\r\n%s" % (len(body), extra, body)
    )


def sse_event(text: str, *, last: bool = False) -> bytes:
    finish = b'"stop"' if last else b"null"
    data = (
        b'{"id":"chatcmpl-raw","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":%s}]}'
        % (text.encode(), finish)
    )
    event = b"data: " + data + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
SSE_END = b"%x\r\ndata: [DONE]\n\n\r\n0\r\n\r\n" % len(b"data: [DONE]\n\n")


@dataclass
class Answer:
    """Bytes to write, in pieces; before each piece after the first, the backend
    waits for the test to `release()` (or for the connection to be closed)."""

    pieces: Sequence[bytes]
    close: bool = False  # close the connection once everything is written
    gates: list[threading.Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gates = [threading.Event() for _ in self.pieces[1:]]

    def release(self) -> None:
        """Let the next held piece go."""
        for gate in self.gates:
            if not gate.is_set():
                gate.set()
                return


class RawBackend:
    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_peer = 0  # connections the client closed
        self.finished = 0  # connections over, whoever closed them
        self._answers: deque[Answer] = deque()
        self._scripted: list[Answer] = []  # every one, to release what is held at exit
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> Self:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = started.result(_TIMEOUT)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for answer in self._scripted:
            for gate in answer.gates:
                gate.set()
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pending(self) -> int:
        """Scripted answers not yet given."""
        return len(self._answers)

    def script(self, *answers: Answer) -> None:
        self._answers.extend(answers)
        self._scripted.extend(answers)

    def wait_for(self, predicate: object, timeout: float = _TIMEOUT) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)  # type: ignore[arg-type]

    def _note(self, change: object) -> None:
        with self._changed:
            change()  # type: ignore[operator]
            self._changed.notify_all()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._note(lambda: setattr(self, "connections", self.connections + 1))
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    self._note(lambda: setattr(self, "closed_by_peer", self.closed_by_peer + 1))
                    return
                self._note(lambda r=request: self.requests.append(r))
                answer = self._answers.popleft() if self._answers else Answer([json_answer()])
                for i, piece in enumerate(answer.pieces):
                    if i and not await _released(answer.gates[i - 1], reader):
                        self._note(lambda: setattr(self, "closed_by_peer", self.closed_by_peer + 1))
                        return
                    writer.write(piece)
                    await writer.drain()
                if answer.close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            self._note(lambda: setattr(self, "closed_by_peer", self.closed_by_peer + 1))
        finally:
            writer.close()
            self._note(lambda: setattr(self, "finished", self.finished + 1))


async def _released(gate: threading.Event, reader: asyncio.StreamReader) -> bool:
    """Hold a piece until the test releases it: False if the client hangs up first.

    Watching the socket meanwhile lets a test see a hang-up when it happens, not when
    the held piece is finally written to a closed connection.
    """
    released = asyncio.ensure_future(asyncio.to_thread(gate.wait, _TIMEOUT))
    # While an answer is held the client sends nothing (no pipelining): a read ends
    # only at end of stream.
    hung_up = asyncio.ensure_future(reader.read(1))
    await asyncio.wait({released, hung_up}, return_when=asyncio.FIRST_COMPLETED)
    if hung_up.done() and (hung_up.exception() is not None or hung_up.result() == b""):
        released.cancel()
        return False
    hung_up.cancel()
    return True


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)
