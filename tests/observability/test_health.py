"""`/health` (alive) and `/health/ready` (every MCP server past its first attempt)."""

from __future__ import annotations

import sys

import httpx2

from tests.observability.support import poll
from tests.tools.support import HELLO


def gated_server(gate) -> dict:
    """An MCP server that starts only once the test creates `gate`."""
    script = f'while [ ! -e "{gate}" ]; do sleep 0.05; done; exec "{sys.executable}" "{HELLO}"'
    return {"command": "sh", "args": ["-c", script]}


def test_ready_waits_for_a_slow_server_and_health_does_not(woollama, tmp_path):
    gate = tmp_path / "gate"
    server = woollama(
        mcp={"mcpServers": {"slow": gated_server(gate), "broken": {"command": "/nonexistent/x"}}}
    )
    with server.http() as http:
        assert http.get("/health").json() == {"status": "ok"}
        # The broken server fails at once; the slow one is still in its first attempt.
        poll(lambda: _server(http.get("/health/ready").json(), "broken")["settled"], "broken")
        waiting = http.get("/health/ready")
        assert waiting.status_code == 503
        body = waiting.json()
        assert body["ready"] is False
        assert _server(body, "slow")["status"] == "connecting"
        assert _server(body, "broken")["status"] in ("retrying", "failed")
        assert "nonexistent" in _server(body, "broken")["last_error"]
        assert {p["name"] for p in body["providers"]} >= {"ollama", "claude-code"}

        gate.touch()
        ready = poll(lambda: (r := http.get("/health/ready")).status_code == 200 and r, "ready")
        body = ready.json()
        assert body["ready"] is True
        assert _server(body, "slow")["status"] == "connected"
        assert _server(body, "slow")["tool_count"] > 0
        # Ready means settled, not healthy: a broken server is shown, not waited for.
        assert _server(body, "broken")["status"] in ("retrying", "failed")
        assert body["config_problems"] == []


def test_health_needs_the_token_on_tcp_but_not_on_the_socket(woollama):
    server = woollama(mcp={"mcpServers": {}}, env={"WOOLLAMA_TOKEN": "tok"})
    with server.http() as http:
        assert http.get("/health").status_code == 401
        assert http.get("/health", headers={"Authorization": "Bearer tok"}).status_code == 200
        # Guarded like every route: a rebinding Host is refused.
        refused = http.get(
            "/health", headers={"Authorization": "Bearer tok", "Host": "evil.example"}
        )
        assert refused.status_code == 403
    transport = httpx2.HTTPTransport(uds=str(server.socket_path))
    with httpx2.Client(transport=transport, base_url="http://localhost") as unix:
        assert unix.get("/health").json() == {"status": "ok"}
        assert unix.get("/health/ready").json()["ready"] is True


def _server(body: dict, name: str) -> dict:
    [found] = [s for s in body["servers"] if s["name"] == name]
    return found
