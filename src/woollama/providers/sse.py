"""An incremental decoder for `text/event-stream` bodies."""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENT = 1024 * 1024  # bytes of one event's data, or of one unfinished line


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None  # the stream's last event id, as the spec keeps it
    retry: int | None = None  # a reconnection delay (ms) sent with this event


class SSEDecoder:
    """Feed bytes as they arrive; get complete events back.

    Events may be split anywhere across chunks, including inside a UTF-8
    character or between `\\r` and `\\n`. An event or a line larger than
    `max_event` is a `ValueError`: a stream must not grow memory without bound.
    """

    def __init__(self, max_event: int = MAX_EVENT) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._max = max_event

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        lines = (self._buffer + chunk).splitlines(keepends=True)
        self._buffer = b""
        if lines and (not lines[-1].endswith((b"\n", b"\r")) or lines[-1].endswith(b"\r")):
            # An unfinished line, or a CR that may be the first half of a CRLF.
            self._buffer = lines.pop()
        events: list[ServerSentEvent] = []
        for raw in lines:
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if not line:
                if self._data or self._event:
                    events.append(self._dispatch())
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
                self._size += len(value)
                if self._size > self._max:
                    raise ValueError(f"an SSE event is larger than {self._max} bytes")
            elif name == "event":
                self._event = value
            elif name == "id" and "\0" not in value:
                self._id = value
            elif name == "retry" and value.isdigit():
                self._retry = int(value)
        if len(self._buffer) > self._max:
            raise ValueError(f"an SSE line is larger than {self._max} bytes")
        return events

    def _dispatch(self) -> ServerSentEvent:
        event = ServerSentEvent(
            "\n".join(self._data), self._event or "message", self._id, self._retry
        )
        self._data, self._size, self._event, self._retry = [], 0, "", None
        return event
