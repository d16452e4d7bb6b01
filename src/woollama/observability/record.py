"""The per-request access record: created by the middleware, filled in by the surfaces.

It rides in the ASGI scope's `state` so any surface can add what only it knows (the
model, the provider, how long the backend took) without the middleware parsing
bodies. It holds names, numbers and woollama's own error messages, never a body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Scope

from woollama.errors import UpstreamError, WoollamaError
from woollama.recipes.events import Done, Event, ToolResult

KEY = "woollama.access"
_MAX_LABEL = 120  # a client chooses `model`; a line or a metric label stays bounded


@dataclass(frozen=True)
class ToolCallNote:
    tool: str  # server.tool
    ok: bool
    ms: float


@dataclass(slots=True)
class AccessRecord:
    method: str = ""
    path: str = ""
    surface: str = ""
    started: float = field(default_factory=time.perf_counter)
    wall: float = field(default_factory=time.time)
    model: str | None = None
    provider: str | None = None
    status: int = 0
    origin: str | None = None  # "relayed" (the backend's answer) or "local" (woollama's)
    upstream: float = 0.0  # seconds spent waiting on the backend
    upstream_known: bool = False
    stream: bool = False
    bytes_out: int = 0
    response_started: float | None = None
    first_byte: float | None = None
    ended: float | None = None
    turns: int = 0
    tools: list[ToolCallNote] = field(default_factory=list)
    error: str | None = None  # the error's type (and code)
    detail: str | None = None  # woollama's own message; a backend's never (it may echo input)
    route: str = "other"

    # -- what the surfaces note --------------------------------------------------------

    def target(self, model: object, provider: str | None) -> None:
        if isinstance(model, str):
            self.model = _label(model)
        self.provider = provider

    def waited(self, since: float) -> None:
        """Count the time from `since` (a perf_counter reading) as waiting on the backend."""
        self.upstream += time.perf_counter() - since
        self.upstream_known = True

    def failed(self, exc: WoollamaError) -> None:
        relayed = isinstance(exc, UpstreamError)
        self.origin = "relayed" if relayed else "local"
        self.error = exc.error_type + (f":{exc.code}" if exc.code else "")
        if not relayed:
            self.detail = exc.message[:300]

    def tool_call(self, tool: str, ok: bool, ms: float) -> None:
        self.tools.append(ToolCallNote(tool, ok, ms))

    def on_event(self, event: Event) -> None:
        """What a recipe run reports (see `recipes.events.EVENT_SINK`)."""
        if isinstance(event, ToolResult):
            self.tools.append(ToolCallNote(event.tool, not event.is_error, event.ms))
        elif isinstance(event, Done):
            self.turns += event.turns

    # -- derived -----------------------------------------------------------------------

    @property
    def total(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def upstream_total(self) -> float | None:
        """Backend time: the waits noted, plus a relayed stream's whole flow."""
        if not self.upstream_known:
            return None
        flowing = 0.0
        if self.stream and self.response_started is not None and self.ended is not None:
            flowing = self.ended - self.response_started
        return self.upstream + flowing

    @property
    def overhead(self) -> float | None:
        upstream = self.upstream_total
        return None if upstream is None else max(self.total - upstream, 0.0)

    @property
    def ttfb(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started


_SCRATCH_STATE: dict[str, Any] = {}


def record_of(scope: Scope) -> AccessRecord:
    """This request's record; a throwaway one when the middleware is off."""
    record = scope.get("state", _SCRATCH_STATE).get(KEY)
    return record if record is not None else AccessRecord()


def note_error(scope: Scope, exc: WoollamaError) -> None:
    record = scope.get("state", _SCRATCH_STATE).get(KEY)
    if record is not None:
        record.failed(exc)


def _label(text: str) -> str:
    if len(text) <= _MAX_LABEL and text.isprintable() and " " not in text:
        return text  # the usual case, checked at C speed
    text = "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in text)
    return text[:_MAX_LABEL]
