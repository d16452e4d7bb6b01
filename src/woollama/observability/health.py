"""Since when each MCP server has been in its state, and what each provider did last."""

from __future__ import annotations

import time
from dataclasses import dataclass

from woollama.observability.record import AccessRecord
from woollama.tools import ToolRegistry


class HealthWatch:
    """Notes each server's state changes; `observe` runs every half second or so,
    so a change is dated within that (a quick reconnect shows in `connects`)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, float]] = {}

    def observe(self, registry: ToolRegistry) -> None:
        now = time.time()
        for name, connection in registry.connections.items():
            state = connection.health.value
            seen = self._seen.get(name)
            if seen is None or seen[0] != state:
                since = connection.connected_at if state == "connected" else None
                self._seen[name] = (state, since or now)

    def since(self, name: str) -> float | None:
        seen = self._seen.get(name)
        return None if seen is None else seen[1]


@dataclass(frozen=True)
class ProviderOutcome:
    reachable: bool
    at: float
    error: str | None  # woollama's words for what went wrong; never a backend's body


class ProviderLog:
    """The last outcome of each provider's requests, as the status shows it."""

    def __init__(self) -> None:
        self.last: dict[str, ProviderOutcome] = {}
        self.last_error: dict[str, ProviderOutcome] = {}

    def note(self, record: AccessRecord) -> None:
        name = record.provider
        if not name or name == "woollama":
            return
        if record.status < 400:
            outcome = ProviderOutcome(True, record.wall, None)
        elif record.origin == "relayed":
            why = f" ({record.error})" if record.error else ""
            error = f"answered HTTP {record.status}{why}"
            outcome = ProviderOutcome(True, record.wall, error)
        elif record.status >= 500:
            outcome = ProviderOutcome(False, record.wall, record.detail or f"HTTP {record.status}")
        else:
            return  # a client's mistake (an unknown model, a bad body) says nothing about it
        self.last[name] = outcome
        if outcome.error:
            self.last_error[name] = outcome
