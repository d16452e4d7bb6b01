"""`claude-agent/<model>` conversations: an Anthropic-hosted agent session owns them."""

from __future__ import annotations

from typing import Any

from woollama.conversations.backends.base import TurnOutcome
from woollama.conversations.handles import Conversation, Status
from woollama.errors import BadRequest
from woollama.providers.managed_agents.client import ManagedAgentsClient


class ManagedAgents:
    name = "managed-agents"

    def __init__(self, client: ManagedAgentsClient):
        self.client = client

    async def open(self, model: str) -> dict[str, Any]:
        return {"native_id": await self.client.create_session(model.partition("/")[2])}

    async def turn(self, conv: Conversation, messages: list[dict[str, Any]]) -> TurnOutcome:
        assert conv.native_id is not None
        text = _user_text(messages)
        if conv.status is Status.AWAITING_INPUT and conv.pending_tool_use_id:
            # The agent asked the user something; this turn's input is the answer.
            turn = await self.client.answer(conv.native_id, conv.pending_tool_use_id, text)
        else:
            turn = await self.client.send(conv.native_id, text)
        if turn.status == "requires_action":
            return TurnOutcome(
                turn.question or turn.text,
                status="requires_action",
                question=turn.question,
                usage=_openai_usage(turn.usage),
                changes={
                    "pending_tool_use_id": turn.tool_use_id,
                    "required_action": {"type": "ask_user", "question": turn.question},
                },
            )
        return TurnOutcome(
            turn.text,
            usage=_openai_usage(turn.usage),
            changes={"pending_tool_use_id": None, "required_action": None},
        )

    async def items(self, conv: Conversation) -> list[dict[str, Any]]:
        assert conv.native_id is not None
        return await self.client.transcript(conv.native_id)

    async def close(self, conv: Conversation) -> None:
        if conv.native_id is not None:
            await self.client.delete(conv.native_id)


def _user_text(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    text = "\n\n".join(p for p in parts if p)
    if not text:
        raise BadRequest("a managed-agents turn needs some user text")
    return text


def _openai_usage(usage: dict[str, int]) -> dict[str, int]:
    prompt = sum(usage.get(k, 0) for k in ("input_tokens", "cache_creation_input_tokens",
                                            "cache_read_input_tokens"))  # fmt: skip
    completion = usage.get("output_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip
