"""Whatever needs a downstream server waits for its first connection attempt.

Each test starts a fresh woollama whose MCP servers take 2 s to come up and asks at
once, as Claude Desktop does when it spawns `woollama mcp`. Start-up itself does not
wait: the banner comes while the servers are still connecting.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import openai
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.openai_backend import FakeOpenAI, Text
from tests.harness import Woollama, fake_inferencer, reset, start, write_config

REPO = Path(__file__).resolve().parents[2]
DELAY = 2.0
LIMIT = 30

RECIPES = """
[recipes.counter]
inferencer = "fake/m"
tools = ["hello.count_to"]

[recipes.broken]
inferencer = "fake/m"
tools = ["dead.anything"]
"""


def slow(script: Path, *args: str) -> dict[str, Any]:
    """An mcp.json entry for a real MCP server that starts only after DELAY seconds."""
    code = (
        "import runpy, sys, time; "
        f"time.sleep({DELAY}); "
        f"sys.argv = [{str(script)!r}, *{list(args)!r}]; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    return {"command": sys.executable, "args": ["-c", code]}


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(backend: FakeOpenAI) -> FakeOpenAI:
    return reset(backend)


@pytest.fixture
def slow_woollama(tmp_path: Path, backend: FakeOpenAI) -> Iterator[Woollama]:
    write_config(
        tmp_path / "config",
        inferencers=fake_inferencer(backend),
        recipes=RECIPES,
        mcp={
            "mcpServers": {
                "hello": slow(REPO / "examples" / "hello.py"),
                "threads": slow(REPO / "examples" / "store_mcp.py", str(tmp_path / "threads")),
                "dead": {"command": str(tmp_path / "no-such-server")},
            },
            "conversationStore": "threads",
        },
    )
    server = start(tmp_path)
    try:
        # The banner did not wait for the servers: they are still connecting.
        statuses = {
            s["name"]: s["status"] for s in server.http().get("/v1/tools").json()["servers"]
        }
        assert statuses["hello"] == "connecting"
        assert statuses["threads"] == "connecting"
        yield server
    finally:
        server.stop()


def offered(fake: FakeOpenAI) -> list[str]:
    return [t["function"]["name"] for t in fake.requests[0].body.get("tools", [])]


@pytest.mark.parametrize("stream", [False, True])
def test_a_recipe_asked_at_once_is_offered_its_tools(
    slow_woollama: Woollama, fake: FakeOpenAI, stream: bool
):
    fake.script(Text("counted"))
    answer = slow_woollama.client().chat.completions.create(
        model="woollama/counter", messages=[{"role": "user", "content": "count"}], stream=stream
    )
    text = (
        "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        if stream
        else answer.choices[0].message.content
    )
    assert text == "counted"
    assert offered(fake) == ["hello__count_to"]


def test_a_recipe_on_responses_asked_at_once_is_offered_its_tools(
    slow_woollama: Woollama, fake: FakeOpenAI
):
    fake.script(Text("counted"))
    response = slow_woollama.client().responses.create(model="woollama/counter", input="count")
    assert response.output_text == "counted"
    assert offered(fake) == ["hello__count_to"]


def test_a_store_backed_conversation_created_at_once_is_stored(slow_woollama: Woollama):
    conversation = slow_woollama.client().conversations.create(extra_body={"model": "fake/m"})
    assert conversation.id.startswith("conv_")
    assert conversation.model_extra["backend"] == "store-backed"


def test_a_server_that_cannot_start_fails_its_recipe_with_a_503_naming_it(
    slow_woollama: Woollama, fake: FakeOpenAI
):
    with pytest.raises(openai.APIStatusError) as info:
        slow_woollama.client(max_retries=0).chat.completions.create(
            model="woollama/broken", messages=[{"role": "user", "content": "go"}]
        )
    assert info.value.status_code == 503
    assert "MCP server 'dead'" in info.value.message and "cannot run" in info.value.message
    assert fake.requests == []


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_mcp_clients_that_list_at_once_see_every_tool(
    slow_woollama: Woollama, transport: str
):
    with anyio.fail_after(LIMIT):
        if transport == "stdio":
            params = StdioServerParameters(
                command=sys.executable, args=["-m", "woollama", "mcp"], env=slow_woollama.env
            )
            async with Client(params) as client:
                names = {t.name for t in (await client.list_tools()).tools}
        else:
            async with (
                httpx2.AsyncClient() as http,
                Client(
                    streamable_http_client(f"http://{slow_woollama.address}/mcp", http_client=http)
                ) as client,
            ):
                names = {t.name for t in (await client.list_tools()).tools}
    assert {"hello__count_to", "threads__create_thread", "chat"} <= names


async def test_a_tool_called_at_once_over_mcp_answers(slow_woollama: Woollama):
    with anyio.fail_after(LIMIT):
        async with (
            httpx2.AsyncClient() as http,
            Client(
                streamable_http_client(f"http://{slow_woollama.address}/mcp", http_client=http)
            ) as client,
        ):
            result = await client.call_tool("hello__hello", {"name": "early"})
    assert not result.is_error
    assert result.content[0].text == "Hello, early!"


def test_a_conversation_store_that_cannot_start_is_a_503_naming_it(woollama):
    server: Woollama = woollama(
        mcp={"mcpServers": {"store": {"command": "no-such-store"}}, "conversationStore": "store"}
    )
    response = server.http().post("/v1/conversations", json={"model": "ollama/m"})
    assert response.status_code == 503, response.text
    message = response.json()["error"]["message"]
    assert "MCP server 'store'" in message and "cannot run" in message
