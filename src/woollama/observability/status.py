"""The picture of a running woollama that `/health/ready`, `/v1/status`, `woollama
status` and the status page share."""

from __future__ import annotations

import os
import time
from typing import Any

from woollama import __version__
from woollama.observability.health import HealthWatch, ProviderLog
from woollama.observability.recent import RecentRequests
from woollama.routing.router import RECIPE_PROVIDER, Router


def servers(router: Router, watch: HealthWatch) -> list[dict[str, Any]]:
    watch.observe(router.registry)  # a change since the last tick is dated now, not later
    found = []
    for name, connection in router.registry.connections.items():
        found.append(
            {
                "name": name,
                "transport": connection.config.transport,
                "status": connection.health.value,
                "settled": connection.first_attempt_done.is_set(),
                "tool_count": len(connection.tools),
                "last_error": connection.last_error,
                "since": watch.since(name),
                "connects": connection.connects,
                "reconnects": max(connection.connects - 1, 0),
            }
        )
    return found


def providers(router: Router, log: ProviderLog) -> list[dict[str, Any]]:
    found = []
    for name, provider in router.providers.items():
        reason = provider.unavailable()
        last = log.last.get(name)
        failure = log.last_error.get(name)
        if reason:
            state = "unavailable"
        elif last is None:
            state = "unknown"  # not asked yet; woollama does not probe backends on its own
        else:
            state = "reachable" if last.reachable else "unreachable"
        found.append(
            {
                "name": name,
                "state": state,
                "reason": reason,
                "last_error": failure.error if failure else None,
                "last_error_at": failure.at if failure else None,
                "last_used_at": last.at if last else None,
            }
        )
    return found


def recipes(router: Router) -> list[dict[str, Any]]:
    found = []
    for name, recipe in router.config.recipes.items():
        problem = router.recipe_problem(name)
        found.append(
            {
                "name": name,
                "model": f"{RECIPE_PROVIDER}/{name}",
                "inferencer": recipe.inferencer,
                "tools": list(recipe.tools),
                "usable": problem is None,
                "reason": problem,
            }
        )
    return found


def is_ready(router: Router) -> bool:
    """Every MCP server is past its first connection attempt (connected or not)."""
    return all(c.first_attempt_done.is_set() for c in router.registry.connections.values())


def readiness(
    router: Router, watch: HealthWatch, log: ProviderLog, problems: list[str]
) -> dict[str, Any]:
    return {
        "ready": is_ready(router),
        "servers": servers(router, watch),
        "providers": providers(router, log),
        "config_problems": list(problems),
    }


def snapshot(
    router: Router,
    *,
    watch: HealthWatch,
    log: ProviderLog,
    recent: RecentRequests,
    started_at: float,
    address: str | None,
    socket: str | None,
    problems: list[str],
) -> dict[str, Any]:
    now = time.time()
    return {
        "version": __version__,
        "pid": os.getpid(),
        "address": address,
        "base_url": f"http://{address}/v1" if address else None,
        "socket": socket,
        "started_at": started_at,
        "uptime_s": round(now - started_at, 1),
        "now": now,
        **readiness(router, watch, log, problems),
        "recipes": recipes(router),
        "recent": recent.recent(50),
        "failures": recent.failed(10),
    }
