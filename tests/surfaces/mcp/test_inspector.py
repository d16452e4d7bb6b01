"""The MCP Inspector CLI, a client people really use, against both MCP transports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Woollama, start, write_config

INSPECTOR = Path(__file__).parents[2] / "npm" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("inspector")
    write_config(root / "config")
    running = start(root)
    running.http().get("/v1/tools", params={"wait": 20})
    yield running
    running.stop()


def inspect(tmp_path: Path, env: dict[str, str], *args: str) -> dict:
    assert INSPECTOR.exists(), "make install runs npm ci in tests/npm"
    result = subprocess.run(
        [str(INSPECTOR), "--cli", *args],
        env={**env, "MCP_CATALOG_PATH": str(tmp_path / "catalog.json")},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def targets(server: Woollama) -> list[list[str]]:
    return [[f"http://{server.address}/mcp"], [sys.executable, "-m", "woollama", "mcp"]]


@pytest.mark.parametrize("transport", [0, 1], ids=["http", "stdio"])
def test_inspector_lists_the_aggregated_tools(server: Woollama, tmp_path: Path, transport: int):
    listing = inspect(tmp_path, server.env, *targets(server)[transport], "--method", "tools/list")
    names = {tool["name"] for tool in listing["tools"]}
    assert {"hello__count_to", "textops__word_count", "chat"} <= names


@pytest.mark.parametrize("transport", [0, 1], ids=["http", "stdio"])
def test_inspector_calls_a_downstream_tool(server: Woollama, tmp_path: Path, transport: int):
    result = inspect(
        tmp_path,
        server.env,
        *targets(server)[transport],
        "--method", "tools/call",
        "--tool-name", "textops__word_count",
        "--tool-arg", "text=one two three",
    )  # fmt: skip
    assert result["structuredContent"] == {"result": 3}
    assert result["isError"] is False
