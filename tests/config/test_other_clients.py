"""mcp.json files written for Claude Desktop, Cursor, Cline and Windsurf load as they are."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.tools.support import HELLO, background, free_port, poll_tools, server_health, status_is
from woollama.config import load_config
from woollama.errors import ConfigError


def load(tmp_path: Path, servers: dict) -> dict:
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
    (tmp_path / "recipes.toml").write_text("")
    return load_config(tmp_path, env={}).mcp.servers


def test_entries_from_other_clients_load_and_disabled_ones_are_skipped(tmp_path: Path):
    servers = load(
        tmp_path,
        {
            "desktop": {"command": "npx", "args": ["-y", "x"], "env": {"A": "1"}},
            "cline": {
                "command": "uvx",
                "args": ["y"],
                "disabled": False,
                "autoApprove": ["t"],
                "timeout": 30,
                "transportType": "stdio",
            },
            "roo": {"command": "node", "alwaysAllow": ["t"], "disabled": True},
            "cursor": {"url": "https://example.test/mcp", "headers": {"k": "v"}},
            "code": {"type": "http", "url": "https://example.test/mcp"},
            "windsurf": {"serverUrl": "https://example.test/sse", "type": "sse"},
            "legacy": {"url": "https://example.test/sse", "transport": "sse"},
            "streamable": {"url": "https://example.test/mcp", "type": "streamable-http"},
        },
    )
    assert "roo" not in servers
    assert servers["cline"].timeout == 30
    assert {name: s.transport for name, s in servers.items()} == {
        "desktop": "stdio", "cline": "stdio", "cursor": "http", "code": "http",
        "windsurf": "sse", "legacy": "sse", "streamable": "http",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": "x", "args": "not-a-list"}, "mcpServers.bad.args: must be a list"),
        ({"args": ["x"]}, "give either `command` (stdio) or `url`"),
        ({"url": "https://x.test", "type": "websocket"}, "unknown transport 'websocket'"),
        ({"command": "x", "disabled": "maybe"}, "mcpServers.bad.disabled: must be true or false"),
        ({"command": "x", "env": {"A": 1}}, "mcpServers.bad.env.A: must be a string"),
    ],
)
def test_invalid_entries_are_described_for_people(tmp_path: Path, entry: dict, message: str):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {"bad": entry})
    assert message in info.value.message
    assert "Input should be" not in info.value.message


def test_a_legacy_sse_server_connects_and_its_tools_answer(woollama):
    port = free_port()
    with background([sys.executable, str(HELLO), "--sse", str(port)], ready=r"Uvicorn running on"):
        server = woollama(
            mcp={"mcpServers": {"old": {"url": f"http://127.0.0.1:{port}/sse", "type": "sse"}}}
        )
        body = poll_tools(server, status_is("old", "connected"), "connected over SSE")
        assert server_health(body, "old")["transport"] == "sse"
        assert "old.count_to" in {t["name"] for t in body["data"]}
