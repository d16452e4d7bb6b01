"""Downstream MCP servers are supervised: a real woollama, driven over HTTP.

A server that dies is respawned with backoff, one that is not there yet is retried
until it is, one that can never start is reported, and none of that affects the
other servers or the rest of the API. `GET /v1/tools` shows each server's health.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tests.harness import start, write_config
from tests.tools.support import (
    HELLO,
    HELLO_TOOLS,
    MODEL_SAFE,
    background,
    children_of,
    free_port,
    poll_tools,
    server_health,
    status_is,
    tools,
    tools_of,
)

HELLO_STDIO = {"command": sys.executable, "args": [str(HELLO)]}
TEXTOPS_STDIO = {"command": sys.executable, "args": [str(HELLO.parent / "textops.py")]}
# Reads its stdin until woollama closes it, and never answers `initialize`.
MUTE_STDIO = {"command": sys.executable, "args": ["-c", "import sys; sys.stdin.read()"]}
MISSING = "/nonexistent/woollama-test-no-such-server"
DOWN = ("retrying", "failed")


def kill_hello(pid: int) -> int:
    [child] = [c for c, cmd in children_of(pid).items() if "hello.py" in cmd]
    os.kill(child, signal.SIGKILL)
    return child


def assert_hello_listed(body, server: str = "hello") -> None:
    listed = tools_of(body, server)
    assert set(listed) == {t.replace("hello.", f"{server}.", 1) for t in HELLO_TOOLS}
    for entry in listed.values():
        assert MODEL_SAFE.fullmatch(entry["model_name"])
        assert entry["input_schema"]["type"] == "object"
    assert listed[f"{server}.hello"]["model_name"] == f"{server}__hello"
    assert listed[f"{server}.hello"]["input_schema"]["required"] == ["name"]


# -- a stdio server that dies ----------------------------------------------------------


def test_killed_stdio_server_is_reported_then_respawned_without_disturbing_others(woollama):
    server = woollama(mcp={"mcpServers": {"hello": HELLO_STDIO, "textops": TEXTOPS_STDIO}})
    first = poll_tools(
        server, lambda b: all(s["status"] == "connected" for s in b["servers"]), "all connected"
    )
    assert server_health(first, "hello")["connects"] == 1
    killed = kill_hello(server.proc.pid)

    # The outage is seen with its reason, unless the respawn was quicker than a poll.
    noticed = poll_tools(
        server,
        lambda b: (
            server_health(b, "hello")["status"] in DOWN
            or server_health(b, "hello")["connects"] >= 2
        ),
        "noticed the kill",
    )
    down = server_health(noticed, "hello")
    if down["status"] in DOWN:
        assert down["last_error"], down
        assert down["connected_since"] is None
        # Its tools stay listed while it is down, so their model names never change.
        assert_hello_listed(noticed)

    back = poll_tools(
        server, status_is("hello", "connected", min_connects=2), "reconnected after SIGKILL"
    )
    health = server_health(back, "hello")
    assert health["last_error"] is None
    assert health["tool_count"] == 3
    assert health["connected_since"] > server_health(first, "hello")["connected_since"]
    assert_hello_listed(back)
    # A new process, not the one we killed, and exactly one of it.
    respawned = [c for c, cmd in children_of(server.proc.pid).items() if "hello.py" in cmd]
    assert len(respawned) == 1 and respawned[0] != killed
    # The other server never noticed.
    textops = server_health(back, "textops")
    assert textops["status"] == "connected" and textops["connects"] == 1


def test_a_server_that_recovered_starts_its_backoff_afresh(woollama):
    server = woollama(mcp={"mcpServers": {"hello": HELLO_STDIO}})
    poll_tools(server, status_is("hello", "connected"), "connected at start")
    for connects in (2, 3, 4):
        kill_hello(server.proc.pid)
        body = poll_tools(
            server,
            lambda b, n=connects: (
                server_health(b, "hello")["status"] == "failed"
                or server_health(b, "hello")["connects"] >= n
            ),
            f"connection #{connects}",
        )
        # Each death follows a healthy connection: it is one failure, not the n-th.
        assert server_health(body, "hello")["status"] != "failed", body["servers"]


# -- a Streamable HTTP server that is not there yet ------------------------------------


def test_http_server_down_at_start_is_retried_until_it_comes_up(woollama):
    port = free_port()
    server = woollama(mcp={"mcpServers": {"web": {"url": f"http://127.0.0.1:{port}/mcp"}}})

    body = tools(server, wait=15)
    health = server_health(body, "web")
    assert health["transport"] == "http"
    assert health["status"] in DOWN
    assert health["connects"] == 0 and health["tool_count"] == 0
    assert "connect" in health["last_error"].lower(), health["last_error"]
    assert tools_of(body, "web") == {}

    with background([sys.executable, str(HELLO), "--http", str(port)], ready=r"Uvicorn running on"):
        body = poll_tools(server, status_is("web", "connected"), "connected once listening")
        health = server_health(body, "web")
        assert health["connects"] == 1 and health["last_error"] is None
        assert health["tool_count"] == 3
        assert_hello_listed(body, "web")


# -- a server that can never start -----------------------------------------------------


def test_missing_command_is_reported_failed_and_other_servers_still_connect(woollama):
    server = woollama(mcp={"mcpServers": {"ghost": {"command": MISSING}, "hello": HELLO_STDIO}})
    body = poll_tools(
        server,
        lambda b: (
            server_health(b, "hello")["status"] == "connected"
            and server_health(b, "ghost")["status"] == "failed"
        ),
        "hello connected and ghost marked failed after repeated attempts",
    )
    ghost = server_health(body, "ghost")
    assert ghost["transport"] == "stdio"
    assert ghost["connects"] == 0 and ghost["tool_count"] == 0
    assert ghost["connected_since"] is None
    assert "No such file" in ghost["last_error"], ghost["last_error"]
    assert tools_of(body, "ghost") == {}
    assert_hello_listed(body)

    assert server.client().models.list().object == "list"
    # Retrying in the background never takes the process down.
    assert server.proc.poll() is None


def test_missing_command_error_names_the_command(woollama):
    server = woollama(mcp={"mcpServers": {"ghost": {"command": MISSING}}})
    body = tools(server, wait=15)
    assert MISSING in (server_health(body, "ghost")["last_error"] or "")


# -- ?wait= ----------------------------------------------------------------------------


def test_wait_returns_once_every_server_has_had_its_first_attempt(woollama):
    port = free_port()
    server = woollama(
        mcp={
            "mcpServers": {
                "hello": HELLO_STDIO,
                "ghost": {"command": MISSING},
                "web": {"url": f"http://127.0.0.1:{port}/mcp"},
            }
        }
    )
    body = tools(server, wait=30)
    # Every first attempt is over: no server is still `connecting`.
    statuses = {s["name"]: s["status"] for s in body["servers"]}
    assert statuses["hello"] == "connected"
    assert statuses["ghost"] in DOWN and statuses["web"] in DOWN
    assert_hello_listed(body)


def test_wait_gives_up_after_the_requested_time_on_a_server_that_never_answers(woollama):
    # Its first attempt runs until the connect timeout; the request must not wait for it.
    server = woollama(mcp={"mcpServers": {"mute": MUTE_STDIO, "hello": HELLO_STDIO}})
    poll_tools(server, status_is("hello", "connected"), "hello connected")
    body = tools(server, wait=1)
    # Answered while the mute server's first attempt (20 s connect timeout) still runs.
    assert server_health(body, "mute")["status"] == "connecting"
    assert server_health(body, "hello")["status"] == "connected"


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """One woollama without MCP servers, shared by the request-validation tests."""
    root = tmp_path_factory.mktemp("bare")
    write_config(root / "config", mcp={"mcpServers": {}})
    server = start(root)
    yield server
    server.stop()


def test_wait_without_servers_returns_an_empty_list_at_once(bare):
    assert tools(bare, wait=5) == {"object": "list", "data": [], "servers": []}


def test_wait_that_is_not_a_number_is_an_openai_shaped_400(bare):
    with bare.http() as http:
        for value in ("abc", "", "1s", "1,5"):
            response = http.get("/v1/tools", params={"wait": value})
            assert response.status_code == 400, (value, response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert "wait" in error["message"] and repr(value) in error["message"]
            assert set(error) >= {"message", "type", "code"}


def test_wait_nan_is_an_openai_shaped_400(bare):
    with bare.http() as http:
        response = http.get("/v1/tools", params={"wait": "nan"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
