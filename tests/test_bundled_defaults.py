"""What a user gets with an empty config dir: the bundled servers, recipes and providers."""

from __future__ import annotations

import json
import sys

import anyio
from mcp import Client

from tests.fakes.openai_backend import FakeOpenAI, Text, ToolCalls
from tests.harness import Woollama


def test_bundled_recipes_are_listed(woollama):
    ids = {m.id for m in woollama().client().models.list()}
    assert {"woollama/streamer", "woollama/textcounter", "woollama/cc-assistant",
            "woollama/cc-counter"} <= ids  # fmt: skip


def test_models_answer_while_an_mcp_server_is_still_connecting(woollama):
    silent = {"command": sys.executable, "args": ["-c", "import time; time.sleep(300)"]}
    server: Woollama = woollama(mcp={"mcpServers": {"silent": silent}})
    assert server.client().models.list().object == "list"
    health = server.http().get("/v1/tools").json()["servers"]
    assert health == [health[0]] and health[0]["status"] == "connecting"


async def test_bundled_servers_answer_through_v1_tools_and_mcp(woollama):
    server: Woollama = woollama()
    health = server.http().get("/v1/tools", params={"wait": 20}).json()["servers"]
    assert {s["name"]: s["status"] for s in health} == {"hello": "connected",
                                                        "textops": "connected"}  # fmt: skip
    with anyio.fail_after(30):
        async with Client(f"http://{server.address}/mcp") as client:
            counted = await client.call_tool("textops__word_count", {"text": "a b c d"})
            greeted = await client.call_tool("hello__hello", {"name": "Ada"})
    assert counted.structured_content == {"result": 4}
    assert greeted.content[0].text == "Hello, Ada!"


def test_bundled_recipe_runs_against_ollama_with_the_hello_server(woollama):
    with FakeOpenAI(models=["qwen3:14b-iq4xs"]) as ollama:
        ollama.script(ToolCalls([("hello__count_to", '{"n": 3}')]), Text("I counted to 3."))
        server: Woollama = woollama(env={"WOOLLAMA_OLLAMA_URL": f"http://127.0.0.1:{ollama.port}"})
        server.http().get("/v1/tools", params={"wait": 20})
        reply = server.client().chat.completions.create(
            model="woollama/streamer", messages=[{"role": "user", "content": "count to 3"}]
        )
        assert reply.choices[0].message.content == "I counted to 3."
        first, second = ollama.requests[-2:]
        assert first.body["model"] == "qwen3:14b-iq4xs"
        assert [t["function"]["name"] for t in first.body["tools"]] == ["hello__count_to"]
        result = next(m for m in second.body["messages"] if m["role"] == "tool")
        assert json.loads(result["content"]) == {"count": 3, "total": 3, "done": True}
        assert "ollama/qwen3:14b-iq4xs" in {m.id for m in server.client().models.list()}
