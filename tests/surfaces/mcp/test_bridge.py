"""`woollama mcp` bridges stdio to a running woollama, so every client shares its servers.

Driven by the real `mcp` SDK stdio client spawning `python -m woollama mcp`, as a
desktop client does, in front of a real woollama process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import mcp.types as mt
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.harness import Woollama, base_env, start, write_config

LIMIT = 40
REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "examples" / "hello.py"

# A stateful downstream server that says which process it is.
PIDS_SERVER = """
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("pids")
count = 0


@mcp.tool(description="the process id of this server")
def pid() -> int:
    return os.getpid()


@mcp.tool(description="add one to this server's counter and return it")
def bump() -> int:
    global count
    count += 1
    return count


mcp.run()
"""


def servers(root: Path) -> dict:
    script = root / "pids_server.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(PIDS_SERVER)
    return {
        "mcpServers": {
            "pids": {"command": sys.executable, "args": [str(script)]},
            "hello": {"command": sys.executable, "args": [str(HELLO)]},
        }
    }


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("bridge")
    write_config(root / "config", mcp=servers(root))
    server = start(root)
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def stdio(env: dict[str, str], *args: str, mode: str = "legacy") -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "woollama", "mcp", *args], env=env
    )
    async with Client(params, mode=mode) as client:
        yield client


async def number(client: Client, tool: str) -> int:
    result = await client.call_tool(tool, {})
    assert result.is_error is not True, result.content
    return result.structured_content["result"]


def parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no parent for {pid}")


def log_line(env: dict[str, str], *args: str) -> str:
    """What `woollama mcp` says on stderr when its client goes away at once."""
    done = subprocess.run(
        [sys.executable, "-m", "woollama", "mcp", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # stdout is the protocol's alone
    return done.stderr


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_two_stdio_clients_share_the_running_woollamas_servers(running: Woollama, mode: str):
    with anyio.fail_after(LIMIT):
        async with stdio(running.env, mode=mode) as one, stdio(running.env, mode=mode) as two:
            tools_one = sorted(t.name for t in (await one.list_tools()).tools)
            tools_two = sorted(t.name for t in (await two.list_tools()).tools)
            pids = {await number(one, "pids__pid"), await number(two, "pids__pid")}
            first, second = await number(one, "pids__bump"), await number(two, "pids__bump")
    assert tools_one == tools_two
    assert {"pids__pid", "pids__bump", "hello__hello", "chat"} <= set(tools_one)
    # One downstream process, started by the running woollama, holding one state.
    [pid] = pids
    assert parent_of(pid) == running.proc.pid
    assert second == first + 1


def test_its_log_line_says_it_bridges(running: Woollama):
    said = log_line(running.env, "--servers", "pids")
    assert "bridging stdio to the running woollama at" in said
    assert str(running.socket_path) in said
    assert "narrowed to servers pids" in said


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_cancelled_call_is_cancelled_through_the_bridge(running: Woollama, mode: str):
    started = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    marker = "count_to cancelled"
    before = running.log().count(marker)
    with anyio.fail_after(LIMIT):
        async with stdio(running.env, mode=mode) as client, anyio.create_task_group() as tg:

            async def count() -> None:
                await client.call_tool("hello__count_to", {"n": 1000, "delay_ms": 50},
                                       progress_callback=on_progress)  # fmt: skip

            tg.start_soon(count)
            await started.wait()
            tg.cancel_scope.cancel()
        # The downstream server says so on the stderr the running woollama shares with it.
        for _ in range(400):
            if running.log().count(marker) > before:
                break
            await anyio.sleep(0.05)
    assert running.log().count(marker) > before


async def test_narrowing_passes_through_the_bridge(running: Woollama):
    with anyio.fail_after(LIMIT):
        async with stdio(running.env, "--tools", "pids.p*,hello.hello") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            refused = await client.call_tool("pids__bump", {})
            allowed = await client.call_tool("hello__hello", {"name": "narrow"})
    assert names == {"pids__pid", "hello__hello"}
    assert refused.is_error is True
    assert "outside what this client asked for" in refused.content[0].text
    assert allowed.content[0].text == "Hello, narrow!"


def stale_socket(path: Path) -> None:
    """A socket file whose owner died: it exists, but nobody answers on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


async def test_with_no_woollama_running_it_serves_in_process(tmp_path: Path):
    root = tmp_path / "alone"
    write_config(root / "config", mcp=servers(root))
    env = base_env(root)
    stale_socket(root / "run" / "woollama.sock")
    with anyio.fail_after(LIMIT):
        async with stdio(env) as one, stdio(env) as two:
            names = {t.name for t in (await one.list_tools()).tools}
            pids = {await number(one, "pids__pid"), await number(two, "pids__pid")}
    assert {"pids__pid", "hello__hello", "chat"} <= names
    assert len(pids) == 2  # each in-process `woollama mcp` runs its own servers
    said = log_line(env)
    assert "no woollama is running; serving in-process" in said


async def test_standalone_serves_in_process_beside_a_running_woollama(running: Woollama):
    with anyio.fail_after(LIMIT):
        async with stdio(running.env, "--standalone") as client:
            parent = parent_of(await number(client, "pids__pid"))
    assert parent != running.proc.pid
    assert "--standalone; serving in-process" in log_line(running.env, "--standalone")


async def test_the_bridge_ends_when_the_running_woollama_stops(tmp_path: Path):
    root = tmp_path / "stops"
    write_config(root / "config")
    server = start(root)
    try:
        with anyio.fail_after(LIMIT):
            async with stdio(server.env) as client:
                assert "hello__hello" in {t.name for t in (await client.list_tools()).tools}
                server.stop()
                # Not a hang: the client's server ends, so its pending call fails.
                with pytest.raises(MCPError, match="Connection closed"):
                    await client.call_tool("hello__hello", {"name": "anyone"})
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_list_changes_reach_a_bridged_client(tmp_path: Path, mode: str):
    # A downstream HTTP server that is down at start comes up: its tools appear and
    # the bridged client is told (the GET stream, or subscriptions/listen on 2026-07-28).
    from tests.surfaces.conftest import closed_port

    port = closed_port()
    root = tmp_path / "changes"
    write_config(
        root / "config", mcp={"mcpServers": {"late": {"url": f"http://127.0.0.1:{port}/mcp"}}}
    )
    server = start(root)
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, mt.ToolListChangedNotification):
            changed.set()

    late = None
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "woollama", "mcp"], env=server.env
    )
    try:
        with anyio.fail_after(LIMIT):
            async with (
                Client(params, mode=mode, message_handler=on_message) as client,
                AsyncExitStack() as stack,
            ):
                before = {t.name for t in (await client.list_tools()).tools}
                events = None
                if mode == "auto":
                    events = await stack.enter_async_context(client.listen(tools_list_changed=True))
                late = await anyio.open_process(
                    [sys.executable, str(HELLO), "--http", str(port)], env=base_env(root)
                )
                if events is None:
                    await changed.wait()
                else:
                    await anext(aiter(events))
                after = {t.name for t in (await client.list_tools()).tools}
        assert "late__hello" not in before
        assert "late__hello" in after
    finally:
        if late is not None:
            late.terminate()
            with anyio.move_on_after(10):
                await late.wait()
        server.stop()


async def listings(client: Client) -> dict[str, list]:
    return {
        "tools": [t.model_dump() for t in (await client.list_tools()).tools],
        "prompts": [p.model_dump() for p in (await client.list_prompts()).prompts],
        "resources": [r.model_dump() for r in (await client.list_resources()).resources],
        "templates": [
            t.model_dump() for t in (await client.list_resource_templates()).resource_templates
        ],
    }


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_bridged_client_sees_what_mcp_serves(running: Woollama, mode: str):
    uds = httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(uds=str(running.socket_path)))
    with anyio.fail_after(LIMIT):
        async with (
            uds,
            Client(streamable_http_client("http://localhost/mcp", http_client=uds), mode=mode) as d,
            stdio(running.env, mode=mode) as bridged,
        ):
            direct, through = await listings(d), await listings(bridged)
            tools = json.loads((await bridged.read_resource("woollama://tools")).contents[0].text)
    assert through == direct
    assert {"woollama://models", "woollama://tools"} <= {r["uri"] for r in through["resources"]}
    assert {s["name"] for s in tools["servers"]} == {"pids", "hello"}
