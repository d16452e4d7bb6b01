"""Routing conversations to the backend that owns them, one turn at a time."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace
from typing import Any

from woollama.conversations.backends.base import ConversationBackend, TurnOutcome
from woollama.conversations.handles import Conversation, HandleTable, Status, new_id
from woollama.errors import BadRequest, Conflict, Unsupported

log = logging.getLogger(__name__)

TURN_WAIT = 30.0  # how long a turn waits for the one before it on the same conversation
_BY_PROVIDER = {"claude-code": "claude-resume", "claude-agent": "managed-agents"}


class Conversations:
    def __init__(self, table: HandleTable, backends: dict[str, ConversationBackend]):
        self.table = table
        self.backends = backends
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def backend_for(self, model: str, requested: str | None = None) -> ConversationBackend:
        provider = model.partition("/")[0]
        name = requested or _BY_PROVIDER.get(provider, "store-backed")
        backend = self.backends.get(name)
        if backend is None:
            if name == "store-backed":
                raise Unsupported(
                    f"{model} keeps no conversation state of its own. To make it stateful, "
                    'name a store in mcp.json: "conversationStore": "<mcp server>" or '
                    '{"type": "http", "url": "..."} (see examples/store_mcp.py); or use '
                    "claude-code/<model> or claude-agent/<model>."
                )
            raise BadRequest(f"unknown conversation backend {name!r}", param="backend")
        return backend

    async def create(
        self,
        model: str,
        *,
        backend: str | None = None,
        metadata: dict[str, Any] | None = None,
        title: str | None = None,
        key: str | None = None,
    ) -> tuple[Conversation, bool]:
        """Create a conversation, or return the one `key` already names (created=False)."""
        draft = Conversation(
            id=new_id("conv"),
            backend="",
            model=model,
            key=key,
            title=title,
            metadata=dict(metadata or {}),
        )
        # Before anything is looked up or opened: a value the table cannot store would
        # otherwise leave a backend thread behind that no conversation names.
        self.table.check(draft)
        if key is not None and (existing := self.table.by_key(key)) is not None:
            return existing, False
        chosen = self.backend_for(model, backend)
        conv = replace(draft, backend=chosen.name, **await chosen.open(model))
        try:
            return self.table.insert(conv), True
        except Conflict:
            # Two creates raced on one key: the first one won; this one is undone.
            await chosen.close(conv)
            winner = self.table.by_key(key) if key else None
            if winner is None:
                raise
            return winner, False

    def set_metadata(self, conv_id: str, metadata: dict[str, Any]) -> Conversation:
        """Replace the metadata, or fail with the row untouched (checked, then written in
        one statement). Not serialised with turns: a turn does not change metadata."""
        return self.table.set_metadata(conv_id, metadata)

    def _backend(self, conv: Conversation) -> ConversationBackend:
        backend = self.backends.get(conv.backend)
        if backend is None:
            raise Unsupported(f"conversation {conv.id} belongs to {conv.backend}, not configured")
        return backend

    async def turn(self, conv_id: str, messages: list[dict[str, Any]]) -> TurnOutcome:
        lock = self._locks[conv_id]
        try:
            async with asyncio.timeout(TURN_WAIT):
                await lock.acquire()
        except TimeoutError:
            raise Conflict(f"conversation {conv_id} is busy with another turn") from None
        try:
            conv = self.table.get(conv_id)
            if conv.status is Status.DEAD:
                raise Conflict(f"conversation {conv_id} has ended")
            expected = conv.status if conv.status is Status.AWAITING_INPUT else Status.IDLE
            if not self.table.claim(conv_id, expect=expected):
                raise Conflict(f"conversation {conv_id} is busy with another turn")
            outcome: TurnOutcome | None = None
            try:
                outcome = await self._backend(conv).turn(conv, messages)
            finally:
                waiting = outcome is not None and outcome.status == "requires_action"
                status = Status.AWAITING_INPUT if waiting else Status.IDLE
                if outcome is None and expected is Status.AWAITING_INPUT:
                    status = Status.AWAITING_INPUT  # a failed answer leaves the question open
                changes = outcome.changes if outcome is not None else {}
                self.table.update(self.table.get(conv_id), status=status, **changes)
            return outcome
        finally:
            lock.release()

    async def items(self, conv_id: str) -> list[dict[str, Any]]:
        conv = self.table.get(conv_id)
        return await self._backend(conv).items(conv)

    async def delete(self, conv_id: str) -> None:
        conv = self.table.get(conv_id)
        async with self._locks[conv_id]:
            await self._backend(conv).close(conv)
            self.table.delete(conv_id)
        self._locks.pop(conv_id, None)
