"""The status as `woollama status` prints it for a person."""

from __future__ import annotations

import time
from typing import Any


def _ago(at: float | None, now: float) -> str:
    if not at:
        return ""
    seconds = max(now - at, 0)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min ago"
    return f"{seconds / 3600:.1f}h ago"


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def render_status(status: dict[str, Any]) -> str:
    now = float(status.get("now") or time.time())
    ready = "ready" if status.get("ready") else "starting"
    lines = [
        f"woollama {status.get('version')} (pid {status.get('pid')}), "
        f"up {_uptime(status.get('uptime_s', 0))}, {ready}",
        f"  base_url {status.get('base_url')}",
        f"  socket   {status.get('socket')}",
    ]
    if problems := status.get("config_problems"):
        lines.append("config problems:")
        lines += [f"  {p}" for p in problems]
    servers = status.get("servers") or []
    lines.append(f"MCP servers ({len(servers)}):")
    for s in servers:
        since = f", since {_ago(s.get('since'), now)}" if s.get("since") else ""
        error = f"\n      last error: {s['last_error']}" if s.get("last_error") else ""
        lines.append(f"  {s['name']}: {s['status']}, {s['tool_count']} tools{since}{error}")
    providers = status.get("providers") or []
    lines.append(f"providers ({len(providers)}):")
    for p in providers:
        why = p.get("reason") or p.get("last_error")
        when = f" ({_ago(p.get('last_error_at'), now)})" if p.get("last_error_at") else ""
        lines.append(f"  {p['name']}: {p['state']}" + (f": {why}{when}" if why else ""))
    recipes = status.get("recipes") or []
    lines.append(f"recipes ({len(recipes)}):")
    for r in recipes:
        state = "usable" if r.get("usable") else f"not usable: {r.get('reason')}"
        lines.append(f"  {r['model']}: {state}")
    failures = status.get("failures") or []
    lines.append(f"recent failed requests ({len(failures)}):")
    for f in failures[:5]:
        what = f.get("error") or ""
        if f.get("detail"):
            what += f": {f['detail']}"
        model = f" model={f['model']}" if f.get("model") else ""
        lines.append(
            f"  {_ago(f.get('time'), now)} {f['method']} {f['path']}{model} -> "
            f"{f['status']} ({f.get('origin')}) {what}".rstrip()
        )
    return "\n".join(lines)
