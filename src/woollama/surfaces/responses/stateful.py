"""Stateful `/v1/responses`: a turn of a conversation its backend owns.

Precedence when a request names its conversation several ways: `conversation`,
then `previous_response_id`, then `key` (create-or-attach), else a new one
(`store: true`). woollama records only which response belongs to which conversation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from woollama.conversations import Conversation
from woollama.conversations.backends.base import TurnOutcome
from woollama.routing.router import Router
from woollama.surfaces.responses.stream import FinishSignal, Signal, TextSignal
from woollama.surfaces.responses.translate import ResponsePlan


@dataclass(frozen=True)
class StatefulAnswer:
    conversation: Conversation
    outcome: TurnOutcome

    def echo(self, plan: ResponsePlan) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "store": True,
            "conversation": {"id": self.conversation.id},
            "previous_response_id": plan.state.previous_response_id if plan.state else None,
        }
        if self.outcome.status == "requires_action":
            extra["required_action"] = {"type": "ask_user", "question": self.outcome.question}
        return {**plan.echo, **extra}

    async def signals(self) -> AsyncGenerator[Signal, None]:
        if self.outcome.text:
            yield TextSignal(self.outcome.text)
        yield FinishSignal("stop", self.outcome.usage or None)


async def run_turn(router: Router, plan: ResponsePlan) -> StatefulAnswer:
    assert plan.state is not None
    conversations = router.conversations
    ref = plan.state
    if ref.conversation:
        conv = conversations.table.get(ref.conversation)
    elif ref.previous_response_id:
        conv = conversations.table.by_response(ref.previous_response_id)
    else:
        conv, _ = await conversations.create(plan.model, key=ref.key)
    outcome = await conversations.turn(conv.id, plan.chat["messages"])
    return StatefulAnswer(conversations.table.get(conv.id), outcome)
