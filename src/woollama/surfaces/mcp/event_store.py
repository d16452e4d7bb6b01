"""The SSE events of `/mcp`, kept for a while so a dropped stream can resume.

A 2025-era client whose stream breaks mid-call reconnects with `Last-Event-ID` and
receives what it missed. Memory is bounded: the oldest events go first, and a client
that comes back after its events went is told nothing rather than something wrong.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamId,
)
from mcp_types import JSONRPCMessage

# About one long tool call's worth of notifications for a few dozen sessions.
DEFAULT_MAX_EVENTS = 4096


@dataclass(frozen=True)
class _Stored:
    stream_id: StreamId
    message: JSONRPCMessage | None  # None: a priming event, never replayed


class BoundedEventStore(EventStore):
    """In memory, at most `max_events` events across every session and stream."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if max_events <= 0:
            raise ValueError("max_events must be positive")
        self._max = max_events
        self._events: OrderedDict[EventId, _Stored] = OrderedDict()
        # One event store serves every session: an unguessable prefix keeps one
        # client from replaying another's stream by counting event ids.
        self._prefix = secrets.token_hex(8)
        self._next = 0

    @property
    def size(self) -> int:
        # Not __len__: the SDK tests the store for truth, and an empty one must count.
        return len(self._events)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        self._next += 1
        event_id = f"{self._prefix}-{secrets.token_hex(4)}-{self._next}"
        self._events[event_id] = _Stored(stream_id, message)
        while len(self._events) > self._max:
            self._events.popitem(last=False)
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        stored = self._events.get(last_event_id)
        if stored is None:
            return None
        # Snapshot first: the callback awaits, and new events may arrive meanwhile.
        ids = list(self._events)
        after = [(i, self._events[i]) for i in ids[ids.index(last_event_id) + 1 :]]
        for event_id, event in after:
            if event.stream_id == stored.stream_id and event.message is not None:
                await send_callback(EventMessage(event.message, event_id))
        return stored.stream_id
