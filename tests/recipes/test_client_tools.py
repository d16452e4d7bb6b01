"""A recipe with the client's own tools, on chat completions and on responses: the
recipe's tools run inside woollama, the client's go back to the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.fakes.openai_backend import FakeOpenAI, Text, ToolCalls
from tests.harness import Woollama, reset, router_with_fake

RECIPES = """
[recipes.counter]
inferencer = "fake/m"
system = "You count things."
tools = ["hello.count_to"]
"""
SHELL = {
    "type": "function",
    "function": {
        "name": "shell",
        "description": "Run a shell command on the client's machine",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}
# The Responses API spells a function tool flat.
SHELL_FLAT = {"type": "function", **SHELL["function"]}
ASK = [{"role": "user", "content": "count to 2, then list files"}]


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI

    @property
    def client(self) -> openai.OpenAI:
        return self.server.client()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("client-tools")
    with router_with_fake(root, recipes=RECIPES, env={"WOOLLAMA_TOOL_TIMEOUT": "3"}) as (
        server,
        fake,
    ):
        servers = server.http().get("/v1/tools", params={"wait": 20}).json()["servers"]
        assert {s["name"]: s["status"] for s in servers}["hello"] == "connected"
        yield Rig(server, fake)


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


def _offered(fake: FakeOpenAI, index: int) -> list[str]:
    return [t["function"]["name"] for t in fake.requests[index].body.get("tools", [])]


# -- chat completions ---------------------------------------------------------------


def test_chat_recipe_hands_a_client_tool_call_back_and_continues_with_its_result(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 2}')]),  # the recipe's tool: runs here
        ToolCalls([("shell", '{"command": "ls"}')]),  # the client's: goes back to it
        Text("Counted to 2; the files are a and b."),
    )
    first = rig.client.chat.completions.create(
        model="woollama/counter", messages=ASK, tools=[SHELL]
    )  # type: ignore[list-item]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert (call.function.name, json.loads(call.function.arguments)) == ("shell", {"command": "ls"})
    assert _offered(fake, 0) == ["hello__count_to", "shell"]
    assert fake.requests[1].body["messages"][-1]["role"] == "tool"  # count_to's result
    assert len(fake.requests) == 2  # the client's tool did not run here

    second = rig.client.chat.completions.create(
        model="woollama/counter",
        tools=[SHELL],  # type: ignore[list-item]
        messages=[
            *ASK,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "a\nb"},
        ],
    )
    assert second.choices[0].message.content == "Counted to 2; the files are a and b."
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "a\nb",
    }


def test_a_streamed_chat_recipe_sends_several_client_tool_calls_as_deltas(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(ToolCalls([("shell", '{"command": "pwd"}'), ("shell", '{"command": "ls"}')]))
    stream = rig.client.chat.completions.create(
        model="woollama/counter", messages=ASK, tools=[SHELL], stream=True
    )  # type: ignore[list-item]
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                if delta.function and delta.function.name:
                    entry["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    entry["arguments"] += delta.function.arguments
    assert finish == "tool_calls"
    assert [json.loads(c["arguments"]) for _, c in sorted(calls.items())] == [
        {"command": "pwd"},
        {"command": "ls"},
    ]
    assert len(fake.requests) == 1


def test_a_client_tool_named_like_a_tool_the_recipe_does_not_allow_never_runs_here(
    rig: Rig, fake: FakeOpenAI
):
    lookalike = {"type": "function", "function": {"name": "hello__hello", "parameters": {}}}
    fake.script(ToolCalls([("hello__hello", "{}")]))
    answer = rig.client.chat.completions.create(
        model="woollama/counter", messages=ASK, tools=[lookalike]
    )  # type: ignore[list-item]
    [call] = answer.choices[0].message.tool_calls or []
    assert call.function.name == "hello__hello"
    assert len(fake.requests) == 1  # no second turn: nothing ran inside woollama


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ({"type": "function"}, "tools"),
        ([{"type": "function", "function": {"parameters": {}}}], "tools[0]"),
        (["shell"], "tools[0]"),
        ([{"type": "web_search"}], "tools[0]"),
    ],
)
def test_malformed_client_tools_on_a_recipe_are_400s_naming_the_field(
    rig: Rig, fake: FakeOpenAI, tools: Any, param: str
):
    answer = rig.server.http().post(
        "/v1/chat/completions", json={"model": "woollama/counter", "messages": ASK, "tools": tools}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param
    assert fake.requests == []


# -- responses ------------------------------------------------------------------------


def test_responses_recipe_ends_with_a_function_call_item_for_a_client_tool(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 2}')]),
        ToolCalls([("shell", '{"command": "ls"}')]),
        Text("Two files."),
    )
    first = rig.client.responses.create(
        model="woollama/counter", input="count, then list", tools=[SHELL_FLAT]
    )  # type: ignore[list-item]
    [item] = [i for i in first.output if i.type == "function_call"]
    assert (item.name, json.loads(item.arguments)) == ("shell", {"command": "ls"})
    assert [t.name for t in first.tools] == ["shell"]  # type: ignore[union-attr]
    assert _offered(fake, 0) == ["hello__count_to", "shell"]

    second = rig.client.responses.create(
        model="woollama/counter",
        tools=[SHELL_FLAT],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "count, then list"},
            {
                "type": "function_call",
                "call_id": item.call_id,
                "name": "shell",
                "arguments": item.arguments,
            },
            {"type": "function_call_output", "call_id": item.call_id, "output": "a\nb"},
        ],
    )
    assert second.output_text == "Two files."
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": item.call_id,
        "content": "a\nb",
    }


def test_a_streamed_responses_recipe_streams_the_client_tool_call(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("shell", '{"command": "pwd"}')]))
    with rig.client.responses.stream(
        model="woollama/counter", input="where am I", tools=[SHELL_FLAT]
    ) as stream:  # type: ignore[list-item]
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.done" in kinds
    [item] = [i for i in final.output if i.type == "function_call"]
    assert json.loads(item.arguments) == {"command": "pwd"}
    assert len(fake.requests) == 1
