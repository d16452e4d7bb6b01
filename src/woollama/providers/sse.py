"""An incremental decoder for `text/event-stream` bodies."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed bytes as they arrive; get complete events back.

    Events may be split anywhere across chunks, including inside a UTF-8
    character or between `\\r` and `\\n`.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        self._buffer += chunk
        events: list[ServerSentEvent] = []
        while True:
            cut = self._next_line_end()
            if cut is None:
                return events
            end, size = cut
            line = self._buffer[:end].decode("utf-8", "replace")
            self._buffer = self._buffer[end + size :]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def _next_line_end(self) -> tuple[int, int] | None:
        for index, byte in enumerate(self._buffer):
            if byte == 0x0A:
                return index, 1
            if byte == 0x0D:
                if index + 1 == len(self._buffer):
                    return None  # a lone CR at the end may be half of CRLF
                return index, 2 if self._buffer[index + 1] == 0x0A else 1
        return None

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            if not self._data and not self._event:
                return None
            event = ServerSentEvent("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None
