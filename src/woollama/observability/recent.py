"""The ring of recent requests the status page and `woollama status` show; memory only."""

from __future__ import annotations

from collections import deque
from typing import Any, TypedDict

from woollama.observability.record import AccessRecord


class RecentEntry(TypedDict):
    time: float
    method: str
    path: str
    surface: str
    model: str | None
    provider: str | None
    status: int
    origin: str
    total_ms: float
    upstream_ms: float | None
    overhead_ms: float | None
    bytes: int
    turns: int
    tools: list[dict[str, Any]]
    error: str | None
    detail: str | None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def entry(record: AccessRecord) -> RecentEntry:
    return {
        "time": record.wall,
        "method": record.method,
        "path": record.path,
        "surface": record.surface,
        "model": record.model,
        "provider": record.provider,
        "status": record.status,
        "origin": record.origin or "local",
        "total_ms": round(record.total * 1000, 2),
        "upstream_ms": _ms(record.upstream_total),
        "overhead_ms": _ms(record.overhead),
        "bytes": record.bytes_out,
        "turns": record.turns,
        "tools": [{"tool": t.tool, "ok": t.ok, "ms": round(t.ms, 2)} for t in record.tools],
        "error": record.error or (f"HTTP {record.status}" if record.status >= 400 else None),
        "detail": record.detail,
    }


class RecentRequests:
    """The last `size` requests, and apart from them the last `failures` failed ones,
    so a burst of successes does not push a failure out of sight."""

    def __init__(self, size: int = 200, failures: int = 50):
        # Finished records are kept as they are and turned into entries when asked for.
        self._all: deque[AccessRecord] = deque(maxlen=size)
        self._failed: deque[AccessRecord] = deque(maxlen=failures)

    def add(self, record: AccessRecord) -> None:
        self._all.append(record)
        if record.status >= 400:
            self._failed.append(record)

    def recent(self, limit: int = 50) -> list[RecentEntry]:
        return [entry(r) for r in list(self._all)[-limit:][::-1]]

    def failed(self, limit: int = 10) -> list[RecentEntry]:
        return [entry(r) for r in list(self._failed)[-limit:][::-1]]
