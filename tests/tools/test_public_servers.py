"""The tool registry against public MCP servers that real users configure.

`@modelcontextprotocol/server-everything` (npm; over stdio and Streamable HTTP) and
`mcp-server-time` (PyPI; stdio). Install them with `npm ci --prefix tests/npm` and
`uv pip install mcp-server-time==2026.10.19`.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.harness import start, write_config
from tests.tools.support import (
    MODEL_SAFE,
    REPO,
    background,
    free_port,
    poll_tools,
    server_health,
    tools_of,
)

NODE_MODULES = REPO / "tests" / "npm" / "node_modules"
EVERYTHING_PACKAGE = NODE_MODULES / "@modelcontextprotocol" / "server-everything"
# Tools server-everything always registers (others depend on client capabilities).
EVERYTHING_TOOLS = {"echo", "get-sum", "get-tiny-image", "get-structured-content"}
TIME_TOOLS = {"get_current_time", "convert_time"}


def everything_script() -> Path:
    """The package's documented bin, resolved inside tests/npm/node_modules."""
    package = EVERYTHING_PACKAGE / "package.json"
    if not package.is_file():
        pytest.fail(f"{package} is missing: run `npm ci --prefix tests/npm`")
    bin_path = json.loads(package.read_text())["bin"]["mcp-server-everything"]
    return EVERYTHING_PACKAGE / bin_path


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("`node` is not on PATH; it runs the npm MCP servers")
    return found


@pytest.fixture(scope="module")
def everything_http_url():
    """server-everything in its Streamable HTTP mode (`streamableHttp`, port from $PORT)."""
    port = free_port()
    with background(
        [node(), str(everything_script()), "streamableHttp"],
        ready=r"Streamable HTTP Server listening on port",
        env={"PORT": str(port)},
    ):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, everything_http_url):
    """One woollama connected to all the public servers; yields `/v1/tools` once all are up."""
    if importlib.util.find_spec("mcp_server_time") is None:
        pytest.fail("mcp-server-time is not installed: uv pip install mcp-server-time==2026.10.19")
    root = tmp_path_factory.mktemp("public")
    servers = {
        "everything": {"command": node(), "args": [str(everything_script()), "stdio"]},
        "everything-http": {"url": everything_http_url},
        "time": {
            "command": sys.executable,
            "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        },
    }
    write_config(root / "config", mcp={"mcpServers": servers})
    server = start(root)
    try:
        yield poll_tools(
            server,
            lambda b: all(
                s["status"] == "connected" and s["tool_count"] >= 2 for s in b["servers"]
            ),
            "connected to every public server",
            deadline=30,
        )
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("server", "transport"), [("everything", "stdio"), ("everything-http", "http")]
)
def test_server_everything_tools_are_listed_with_model_safe_names(registry, server, transport):
    health = server_health(registry, server)
    assert health["status"] == "connected" and health["transport"] == transport
    assert health["last_error"] is None and health["connects"] == 1
    listed = tools_of(registry, server)
    assert health["tool_count"] == len(listed)
    assert {f"{server}.{t}" for t in EVERYTHING_TOOLS} <= set(listed)
    for qualified, entry in listed.items():
        assert entry["server"] == server
        assert MODEL_SAFE.fullmatch(entry["model_name"]), entry["model_name"]
        assert entry["model_name"] == qualified.replace(".", "__", 1)
        assert entry["input_schema"]["type"] == "object"

    echo = listed[f"{server}.echo"]
    assert echo["model_name"] == f"{server}__echo"
    assert echo["description"]
    assert "message" in echo["input_schema"]["properties"]
    assert listed[f"{server}.get-sum"]["model_name"] == f"{server}__get-sum"
    assert set(listed[f"{server}.get-sum"]["input_schema"]["properties"]) == {"a", "b"}
    assert listed[f"{server}.get-structured-content"]["output_schema"]["type"] == "object"
    assert echo["output_schema"] is None


def test_same_tools_over_stdio_and_http_are_told_apart_by_server(registry):
    stdio = {t.partition(".")[2] for t in tools_of(registry, "everything")}
    http = {t.partition(".")[2] for t in tools_of(registry, "everything-http")}
    assert stdio == http
    names = [t["model_name"] for t in registry["data"]]
    assert len(names) == len(set(names))


def test_mcp_server_time_tools_are_listed_with_their_schemas(registry):
    health = server_health(registry, "time")
    assert health["status"] == "connected" and health["transport"] == "stdio"
    listed = tools_of(registry, "time")
    assert set(listed) == {f"time.{t}" for t in TIME_TOOLS}
    current = listed["time.get_current_time"]
    assert current["model_name"] == "time__get_current_time"
    assert current["input_schema"]["required"] == ["timezone"]
    convert = listed["time.convert_time"]
    assert convert["model_name"] == "time__convert_time"
    assert set(convert["input_schema"]["required"]) == {
        "source_timezone",
        "time",
        "target_timezone",
    }


def test_every_listed_tool_belongs_to_a_connected_server(registry):
    servers = {s["name"]: s for s in registry["servers"]}
    assert set(servers) == {"everything", "everything-http", "time"}
    for entry in registry["data"]:
        assert servers[entry["server"]]["status"] == "connected"
        assert entry["name"].startswith(entry["server"] + ".")
    assert sum(s["tool_count"] for s in servers.values()) == len(registry["data"])
