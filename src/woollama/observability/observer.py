"""One app's observability: what it does when a request ends or a tool is called."""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from woollama.observability import access_log as lines
from woollama.observability.health import HealthWatch, ProviderLog
from woollama.observability.metrics import Metrics
from woollama.observability.recent import RecentRequests
from woollama.observability.record import AccessRecord
from woollama.observability.status import providers, servers
from woollama.routing.router import Router

# Routes a status page or a scraper polls: logged and kept only when they fail.
QUIET_ROUTES = frozenset(
    {"/", "/static/{name}", "/favicon.ico", "/health", "/health/ready", "/metrics", "/v1/status"}
)
WATCH_INTERVAL = 0.5


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


class Observer:
    def __init__(self, *, access_log: bool = True, metrics: bool = True):
        self.access_log = access_log
        self.writer = lines.AccessWriter()
        atexit.register(self.writer.flush)  # lines still waiting when the process ends
        self.started_at = time.time()
        self.recent = RecentRequests()
        self.watch = HealthWatch()
        self.providers = ProviderLog()
        self._router: Callable[[], Router | None] = lambda: None
        self._problems: Callable[[], list[str]] = list
        self.metrics = Metrics(self._state) if metrics else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, metrics: bool = True) -> Observer:
        """`WOOLLAMA_ACCESS_LOG=0` and `WOOLLAMA_METRICS=0` turn either off."""
        return cls(
            access_log=_flag(env, "WOOLLAMA_ACCESS_LOG"),
            metrics=metrics and _flag(env, "WOOLLAMA_METRICS"),
        )

    @property
    def enabled(self) -> bool:
        return self.access_log or self.metrics is not None

    def attach(
        self, router: Callable[[], Router | None], problems: Callable[[], list[str]]
    ) -> None:
        """Where the running router and the current config problems are read from
        (both change when the configuration is reloaded)."""
        self._router = router
        self._problems = problems

    async def run_watch(self) -> None:
        """Date the servers' state changes until cancelled (by the lifespan)."""
        while True:
            router = self._router()
            if router is not None:
                self.watch.observe(router.registry)
            await anyio.sleep(WATCH_INTERVAL)

    # -- events ------------------------------------------------------------------------

    def finished(self, record: AccessRecord) -> None:
        if record.origin is None:
            # Not marked by an error handler: a success from a backend is its own
            # answer; anything else woollama made itself.
            relayed = record.status < 400 and record.provider not in (None, "woollama")
            record.origin = "relayed" if relayed else "local"
        if self.metrics is not None:
            self.metrics.observe(record)
        if record.route in QUIET_ROUTES and record.status < 400:
            return
        self.providers.note(record)
        self.recent.add(record)
        if self.access_log:
            self.writer.write(lines.access_line(record))

    def tool_called(self, tool: str, ok: bool, ms: float, via: str = "mcp") -> None:
        """An MCP client's `tools/call` (a recipe's calls come with its request)."""
        if self.metrics is not None:
            self.metrics.tool_called(tool, ok, ms, via)
        if self.access_log:
            self.writer.write(lines.tool_line(tool, ok, ms, via))

    def stream_started(self) -> None:
        if self.metrics is not None:
            self.metrics.streams.inc()

    def stream_ended(self) -> None:
        if self.metrics is not None:
            self.metrics.streams.dec()

    # -- state, read when scraped ------------------------------------------------------

    def problems(self) -> list[str]:
        return list(self._problems())

    def _state(self) -> dict[str, Any]:
        router = self._router()
        if router is None:
            return {"started_at": self.started_at}
        return {
            "servers": servers(router, self.watch),
            "providers": providers(router, self.providers),
            "started_at": self.started_at,
            "config_problems": self.problems(),
        }
