"""A client sees, and may call, only what it asked for: narrowing by server and by tool.

Over `/mcp` (query parameters or headers) and stdio (`woollama mcp --servers/--tools`),
with the real `mcp` SDK client against a real woollama.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.harness import Woollama, start, write_config
from woollama.surfaces.mcp.scope import Scope

LIMIT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("scope")
    write_config(root / "config")  # the bundled servers: hello and textops
    server = start(root, {"WOOLLAMA_TOKEN": "tok"})
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def http(
    server: Woollama, query: str = "", headers: dict[str, str] | None = None, mode: str = "auto"
) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer tok", **(headers or {})}) as http,
        Client(
            streamable_http_client(f"http://{server.address}/mcp{query}", http_client=http),
            mode=mode,
        ) as client,
    ):
        yield client


@asynccontextmanager
async def stdio(server: Woollama, *args: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "woollama", "mcp", *args], env=server.env
    )
    async with Client(params) as client:
        yield client


async def names(client: Client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_query_parameter_narrows_by_server(server: Woollama, mode: str):
    with anyio.fail_after(LIMIT):
        async with http(server, "?servers=textops", mode=mode) as client:
            seen = await names(client)
            refused = await client.call_tool("hello__hello", {"name": "x"})
            allowed = await client.call_tool("textops__word_count", {"text": "a b c"})
    assert seen and all(name.startswith("textops__") for name in seen)
    assert refused.is_error is True
    assert "'hello.hello' is outside what this client asked for" in refused.content[0].text
    assert allowed.is_error is not True


async def test_a_header_narrows_by_tool_glob(server: Woollama):
    with anyio.fail_after(LIMIT):
        async with http(server, headers={"Mcp-Woollama-Tools": "hello.count_*, woollama.*"}) as c:
            seen = await names(c)
            chat = await c.call_tool("chat", {"model": "nowhere/m", "messages": []})
    assert seen == {"hello__count_to", "chat"}
    assert "outside what this client asked for" not in chat.content[0].text


async def test_query_and_header_together_never_widen(server: Woollama):
    headers = {"Mcp-Woollama-Servers": "hello"}
    with anyio.fail_after(LIMIT):
        async with http(server, "?tools=hello.hello,textops.*", headers=headers) as client:
            seen = await names(client)
            refused = await client.call_tool("textops__word_count", {"text": "a"})
    assert seen == {"hello__hello"}
    assert refused.is_error is True


async def test_chat_is_refused_outside_the_narrowing(server: Woollama):
    with anyio.fail_after(LIMIT):
        async with http(server, "?servers=hello") as client:
            seen = await names(client)
            refused = await client.call_tool(
                "chat", {"model": "nowhere/m", "messages": [{"role": "user", "content": "x"}]}
            )
    assert "chat" not in seen
    assert refused.is_error is True
    assert "'woollama.chat' is outside" in refused.content[0].text


async def test_without_a_narrowing_everything_is_listed(server: Woollama):
    with anyio.fail_after(LIMIT):
        async with http(server, "?servers=") as client:  # blank: no narrowing
            seen = await names(client)
    assert {"hello__hello", "textops__word_count", "chat"} <= seen


@pytest.mark.parametrize("where", ["bridged", "in-process"])
async def test_stdio_narrows_with_its_options(server: Woollama, where: str):
    extra = ["--standalone"] if where == "in-process" else []
    with anyio.fail_after(LIMIT):
        async with stdio(server, *extra, "--servers", "hello", "--tools", "*.hello") as client:
            seen = await names(client)
            refused = await client.call_tool("hello__count_to", {"n": 1})
    assert seen == {"hello__hello"}
    assert refused.is_error is True


def test_narrowings_intersect():
    scope = Scope.parse("fs,memory", None).narrow(Scope.parse(None, "fs.read_*,memory.*"))
    assert scope.allows("fs", "read_file")
    assert not scope.allows("fs", "write_file")
    assert scope.allows("memory", "create_entities")
    assert not scope.allows("git", "status")
    assert scope.narrow(Scope.parse("git", None)).allows("memory", "x") is False
    assert Scope.parse(" ", "").everything
    assert Scope.parse("fs", "fs.read_*").headers() == {
        "Mcp-Woollama-Servers": "fs",
        "Mcp-Woollama-Tools": "fs.read_*",
    }
