"""How a scripted reply becomes a chat answer, in both the forms a client may ask for.

A ``ChatPlan`` holds the whole ``chat.completion`` message and the ordered deltas of
the equivalent stream, so the non-streaming and streaming paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _openai_wire as wire
from ._openai_replies import Chunks, Die, Reply, Text, ToolCalls


@dataclass
class ChatPlan:
    """``steps`` are ``(delay before, delta)`` pairs; the finish and usage chunks are
    added by the server, which alone knows whether usage was asked for."""

    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    steps: list[tuple[float, dict[str, Any]]]
    completion_tokens: int
    usage: Mapping[str, int] | None = None


_ROLE_DELTA: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}


def content_plan(pieces: list[str], delay: float, finish: str) -> ChatPlan:
    steps = [(0.0, dict(_ROLE_DELTA))]
    steps += [(delay if i else 0.0, {"content": p}) for i, p in enumerate(pieces)]
    content = "".join(pieces)
    return ChatPlan(content, [], finish, steps, wire.rough_tokens(content))


def tool_plan(reply: ToolCalls) -> ChatPlan:
    calls = [wire.tool_call(wire.new_id("call_"), name, args) for name, args in reply.calls]
    steps: list[tuple[float, dict[str, Any]]] = []
    if reply.content:
        steps.append((0.0, dict(_ROLE_DELTA)))
        steps += [(0.0, {"content": p}) for p in wire.split_words(reply.content)]
    per_call = []
    for index, call in enumerate(calls):
        header = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        tail = [
            {"index": index, "function": {"arguments": frag}}
            for frag in wire.fragments(call["function"]["arguments"])
        ]
        per_call.append([header, *tail])
    for delta in wire.interleave(per_call):
        steps.append((0.0, {"tool_calls": [delta]}))
    if not reply.content and len(steps) > 0:
        # OpenAI puts the role on the first tool-call delta when there is no text.
        steps[0] = (0.0, {"role": "assistant", "content": None, **steps[0][1], "refusal": None})
    tokens = wire.rough_tokens(reply.content or "") + sum(
        len(c["function"]["arguments"]) // 4 + 1 for c in calls
    )
    return ChatPlan(reply.content, calls, "tool_calls", steps, tokens)


def chat_plan(reply: Reply | None, messages: Sequence[Any]) -> ChatPlan:
    if reply is None:
        return content_plan(wire.split_words("echo: " + wire.last_user_text(messages)), 0.0, "stop")
    if isinstance(reply, Text):
        plan = content_plan(wire.split_words(reply.content), 0.0, reply.finish_reason)
        plan.usage = reply.usage
        return plan
    if isinstance(reply, Chunks):
        return content_plan([reply.text] * reply.n, reply.delay, "stop")
    if isinstance(reply, Die):
        return content_plan(["tok"] * reply.after_chunks, 0.0, "stop")
    if isinstance(reply, ToolCalls):
        return tool_plan(reply)
    raise TypeError(f"not a chat reply: {reply!r}")
