"""The protocol of a backend that owns conversation state, and the store-backed one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from woollama.conversations.handles import Conversation
from woollama.conversations.stores import ThreadStore
from woollama.errors import BackendError
from woollama.recipes import Done, RecipeRunner


@dataclass(frozen=True)
class TurnOutcome:
    text: str
    status: Literal["completed", "requires_action"] = "completed"
    question: str | None = None  # what the agent asks the user when it pauses
    usage: dict[str, int] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)  # fields of the handle to update


class ConversationBackend(Protocol):
    name: str

    async def open(self, model: str) -> dict[str, Any]:
        """Create the backend's side; returns handle fields (native_id, workdir)."""
        ...

    async def turn(self, conv: Conversation, messages: list[dict[str, Any]]) -> TurnOutcome: ...

    async def items(self, conv: Conversation) -> list[dict[str, Any]]: ...

    async def close(self, conv: Conversation) -> None: ...


class StoreBacked:
    """Any model, with the transcript kept by an external store (MCP or HTTP)."""

    name = "store-backed"

    def __init__(self, store: ThreadStore, runner: Callable[[str], RecipeRunner]):
        self.store = store
        self.runner = runner

    async def open(self, model: str) -> dict[str, Any]:
        self.runner(model)  # an unknown model or recipe fails before a thread is made
        return {"native_id": await self.store.create()}

    async def turn(self, conv: Conversation, messages: list[dict[str, Any]]) -> TurnOutcome:
        assert conv.native_id is not None
        history = await self.store.get(conv.native_id)
        done: Done | None = None
        async for event in self.runner(conv.model).run(
            {"messages": [*history, *messages]}, stream=False
        ):
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
