"""woollama's MCP surface through the real `mcp` SDK client, both transports and eras."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
import mcp.types as mt
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.openai_backend import FakeOpenAI, Text, ToolCalls
from tests.harness import Woollama, base_env, router_with_fake, start, write_config

RECIPES = """
[recipes.counter]
description = "counts with a tool"
inferencer = "fake/m"
system = "You count things."
tools = ["hello.count_to"]
"""
LIMIT = 30


@dataclass
class McpRig:
    server: Woollama
    fake: FakeOpenAI


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpRig]:
    root = tmp_path_factory.mktemp("mcp")
    with router_with_fake(root, recipes=RECIPES, env={"WOOLLAMA_TOKEN": "tok"}) as (server, fake):
        yield McpRig(server, fake)


TRANSPORTS = ["http-auto", "http-legacy", "unix-auto", "stdio-auto", "stdio-legacy"]


@asynccontextmanager
async def connect(rig: McpRig, transport: str, **kwargs) -> AsyncIterator[Client]:
    kind, mode = transport.split("-")
    if kind == "stdio":
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "woollama", "mcp"], env=rig.server.env
        )
        async with Client(params, mode=mode, **kwargs) as client:
            yield client
        return
    if kind == "unix":
        http = httpx2.AsyncClient(
            transport=httpx2.AsyncHTTPTransport(uds=str(rig.server.socket_path))
        )
        url = "http://localhost/mcp"
    else:
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer tok"})
        url = f"http://{rig.server.address}/mcp"
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as client,
    ):
        yield client


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_downstream_tools_are_re_exported_with_output_schemas(rig: McpRig, transport: str):
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"hello__count_to", "hello__hello", "textops__word_count", "chat"} <= set(tools)
    assert tools["hello__count_to"].output_schema["properties"]["done"]["type"] == "boolean"
    assert tools["chat"].output_schema["required"] == ["result"]
    assert all(mt_name_ok(name) for name in tools)


def mt_name_ok(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) is not None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_call_returns_structured_content_and_forwards_progress(rig: McpRig, transport: str):
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            result = await client.call_tool(
                "hello__count_to", {"n": 4}, progress_callback=on_progress
            )
    assert result.is_error is not True
    assert result.structured_content == {"count": 4, "total": 4, "done": True}
    assert [p[0] for p in progress] == [1, 2, 3, 4]
    assert progress[-1][2] == "counted 4 of 4"


@pytest.mark.parametrize("transport", ["http-auto", "stdio-legacy"])
async def test_downstream_tool_errors_pass_through_as_is_error(rig: McpRig, transport: str):
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            result = await client.call_tool("hello__count_to", {"n": 0})
    assert result.is_error is True


@pytest.mark.parametrize("transport", ["http-auto", "http-legacy", "stdio-auto"])
async def test_recipes_are_prompts(rig: McpRig, transport: str):
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            prompts = {p.name: p for p in (await client.list_prompts()).prompts}
            got = await client.get_prompt("counter")
    assert prompts["counter"].description == "counts with a tool"
    assert got.messages[0].content.text == "You count things."


@pytest.mark.parametrize("transport", ["http-auto", "http-legacy"])
async def test_chat_runs_a_recipe_with_progress_and_logs(rig: McpRig, transport: str):
    rig.fake.script(ToolCalls([("hello__count_to", '{"n": 2}')]), Text("Counted to two."))
    progress: list[str | None] = []
    logs: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, logging_callback=on_log, log_level="info") as client:
            result = await client.call_tool(
                "chat",
                {"recipe": "counter", "messages": [{"role": "user", "content": "count to 2"}]},
                progress_callback=on_progress,
            )
    assert result.is_error is not True
    assert result.structured_content == {"result": "Counted to two."}
    assert result.content[0].text == "Counted to two."
    assert progress == ["calling hello.count_to"]
    assert any("calling hello.count_to" in line for line in logs)
    assert any("hello.count_to returned" in line for line in logs)


async def test_chat_with_a_provider_model(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto") as client:
            result = await client.call_tool(
                "chat", {"model": "fake/m", "messages": [{"role": "user", "content": "ping"}]}
            )
    assert result.structured_content == {"result": "echo: ping"}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"recipe": "nope", "messages": [{"role": "user", "content": "x"}]}, "unknown recipe"),
        (
            {"model": "nowhere/m", "messages": [{"role": "user", "content": "x"}]},
            "unknown provider",
        ),
        ({"recipe": "counter", "messages": []}, "non-empty list"),
        ({"messages": [{"role": "user", "content": "x"}]}, "give `recipe`"),
    ],
)
async def test_chat_errors_are_tool_errors(rig: McpRig, arguments: dict, fragment: str):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto") as client:
            result = await client.call_tool("chat", arguments)
    assert result.is_error is True
    assert fragment in result.content[0].text


async def test_resources_expose_models_tools_and_recipes(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto") as client:
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            models = json.loads((await client.read_resource("woollama://models")).contents[0].text)
            tools = json.loads((await client.read_resource("woollama://tools")).contents[0].text)
            recipe = json.loads(
                (await client.read_resource("woollama://recipes/counter")).contents[0].text
            )
    assert {"woollama://models", "woollama://tools", "woollama://recipes/counter"} <= uris
    assert "woollama/counter" in {m["id"] for m in models}
    assert {s["name"]: s["status"] for s in tools["servers"]}["hello"] == "connected"
    assert recipe["tools"] == ["hello.count_to"]


def test_mcp_refuses_a_bad_origin_and_a_missing_token(rig: McpRig):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with rig.server.http() as http:
        bad_origin = http.post(
            "/mcp",
            json=body,
            headers={"Authorization": "Bearer tok", "Origin": "https://evil.example"},
        )
        no_token = http.post("/mcp", json=body)
    assert bad_origin.status_code == 403
    assert no_token.status_code == 401


def test_mcp_is_served_at_exactly_slash_mcp_without_redirect(rig: McpRig):
    with rig.server.http(headers={"Authorization": "Bearer tok"}) as http:
        response = http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert response.status_code not in (301, 302, 307, 308)
    assert response.status_code < 500


async def test_clients_hear_when_the_tool_list_changes(tmp_path):
    # A downstream HTTP server that is down at start comes up: its tools appear and
    # a connected handshake-era client is told so.
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
    try:
        with anyio.fail_after(LIMIT):
            url = f"http://{server.address}/mcp"
            async with Client(url, mode="legacy", message_handler=on_message) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "late__hello" not in names
                late = await anyio.open_process(
                    [sys.executable, "examples/hello.py", "--http", str(port)], env=base_env(root)
                )
                await changed.wait()
                names = {t.name for t in (await client.list_tools()).tools}
        assert "late__hello" in names
    finally:
        if late is not None:
            late.terminate()
            with anyio.move_on_after(10):
                await late.wait()
        server.stop()


@pytest.mark.parametrize("transport", ["http-legacy", "stdio-legacy"])
async def test_downstream_questions_reach_the_calling_client(rig: McpRig, transport: str):
    asked: list[str] = []

    async def answer(context, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"answer": "Paris"})

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, elicitation_callback=answer) as client:
            result = await client.call_tool("hello__ask_user", {"question": "Which city?"})
    assert asked and "Which city?" in asked[0]
    assert "Paris" in result.content[0].text


async def test_questions_are_declined_when_the_caller_cannot_answer(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-legacy") as client:  # no elicitation capability
            result = await client.call_tool("hello__ask_user", {"question": "Which city?"})
    assert "declined" in result.content[0].text or "not support" in result.content[0].text


@pytest.mark.parametrize("transport", ["http-legacy", "http-auto"])
async def test_a_cancelled_call_is_cancelled_downstream(rig: McpRig, transport: str):
    started = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client, anyio.create_task_group() as tg:

            async def count() -> None:
                await client.call_tool("hello__count_to", {"n": 1000, "delay_ms": 50},
                                       progress_callback=on_progress)  # fmt: skip

            tg.start_soon(count)
            await started.wait()
            tg.cancel_scope.cancel()
        # The downstream server says so on the stderr woollama shares with it.
        for _ in range(200):
            if "count_to cancelled" in rig.server.log():
                break
            await anyio.sleep(0.05)
    assert "count_to cancelled" in rig.server.log()


@pytest.mark.parametrize("transport", ["http-auto", "stdio-legacy"])
async def test_chat_marks_its_wrapped_answer_for_fastmcp_clients(rig: McpRig, transport: str):
    # FastMCP clients unwrap {"result": ...} to the bare value when the output schema
    # carries FastMCP's mark: they get the answer as a `str`, as from the original.
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            [chat] = [t for t in (await client.list_tools()).tools if t.name == "chat"]
            result = await client.call_tool(
                "chat", {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}
            )
    assert chat.output_schema["x-fastmcp-wrap-result"] is True
    assert chat.output_schema["properties"] == {
        "result": {"type": "string", "description": "the final answer"}
    }
    assert result.structured_content == {"result": "echo: hi"}
