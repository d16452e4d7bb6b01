"""Any model or recipe, with the transcript kept by an external store (MCP or HTTP)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from woollama.conversations.backends.base import TurnOutcome
from woollama.conversations.handles import Conversation
from woollama.conversations.stores import ThreadStore
from woollama.errors import BackendError
from woollama.recipes import Done, RecipeRunner


class StoreBacked:
    """Any model, with the transcript kept by an external store (MCP or HTTP)."""

    name = "store-backed"

    def __init__(self, store: ThreadStore, runner: Callable[[str], Awaitable[RecipeRunner]]):
        self.store = store
        self.runner = runner

    async def open(self, model: str) -> dict[str, Any]:
        await self.runner(model)  # an unknown model or recipe fails before a thread is made
        return {"native_id": await self.store.create()}

    async def turn(self, conv: Conversation, messages: list[dict[str, Any]]) -> TurnOutcome:
        assert conv.native_id is not None
        history = await self.store.get(conv.native_id)
        done: Done | None = None
        runner = await self.runner(conv.model)
        async for event in runner.run({"messages": [*history, *messages]}, stream=False):
            if isinstance(event, Done):
                done = event
        if done is None:
            raise BackendError(f"{conv.model} ended the turn without an answer")
        # Only what was said is stored: the user's input and the final answer.
        await self.store.append(
            conv.native_id, [*messages, {"role": "assistant", "content": done.content}]
        )
        return TurnOutcome(done.content, usage=done.usage)

    async def items(self, conv: Conversation) -> list[dict[str, Any]]:
        assert conv.native_id is not None
        return await self.store.get(conv.native_id)

    async def close(self, conv: Conversation) -> None:
        if conv.native_id is not None:
            await self.store.delete(conv.native_id)
