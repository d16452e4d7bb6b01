"""The protocol every backend that owns conversation state follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from woollama.conversations.handles import Conversation


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
