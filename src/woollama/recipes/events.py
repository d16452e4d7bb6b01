"""What the recipe loop reports as it runs; streaming and non-streaming drain the same events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCalled:
    call_id: str
    tool: str  # server.tool, or the model's raw name when it is not allowed
    arguments: str


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    tool: str
    text: str
    is_error: bool
    structured: Any = None
    ms: float = 0.0  # how long the call took


@dataclass(frozen=True)
class Done:
    content: str
    finish_reason: str
    usage: dict[str, int] = field(default_factory=dict)
    turns: int = 1
    # The client's own tools the model called (OpenAI tool calls): the turn ends and
    # they go back to the client, which runs them; never run inside woollama.
    client_calls: tuple[dict[str, Any], ...] = ()


Event = TextDelta | ToolCalled | ToolResult | Done

# Set by the observability layer around a request, so the access log learns a run's
# tool calls and turns whichever surface consumes the events.
EVENT_SINK: ContextVar[Callable[[Event], None] | None] = ContextVar(
    "woollama_recipe_events", default=None
)


def report(event: Event) -> Event:
    """`event`, after telling the sink (if any) about it."""
    sink = EVENT_SINK.get()
    if sink is not None:
        sink(event)
    return event


async def final_answer(events: AsyncIterator[Event]) -> Done:
    """Drain a non-streamed run to its answer."""
    async for event in events:
        if isinstance(event, Done):
            return event
    raise AssertionError("the recipe loop ends with Done or raises")
