"""Recipes end to end: the real SDK → real woollama → scripted backend + real MCP servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from tests.fakes.openai_backend import Chunks, Die, Error, FakeOpenAI, Slow, Text, ToolCalls
from tests.harness import Woollama, reset, router_with_fake

RECIPES = """
[recipes.counter]
inferencer = "fake/m"
system = "You count things."
tools = ["hello.count_to", "textops.word_count"]
params = { temperature = 0.1 }

[recipes.plain]
inferencer = "fake/m"
system = "Be brief."
tools = []

[recipes.short]
inferencer = "fake/m"
tools = ["hello.hello"]
max_turns = 2

[recipes.ghostly]
inferencer = "fake/m"
tools = ["hello.hello", "ghost.tool"]

[recipes.misspelt]
inferencer = "fake/m"
tools = ["hello.count_too"]

[recipes.forced]
inferencer = "fake/m"
tools = ["hello.count_to"]
params = { tool_choice = { type = "function", function = { name = "hello.count_to" } } }

[recipes.forced_short]
inferencer = "fake/m"
tools = ["hello.count_to"]
params = { tool_choice = "hello.count_to" }

[recipes.optional]
inferencer = "fake/m"
tools = ["hello.hello"]
optional_tools = ["ghost.tool", "hello.count_too"]

[recipes.nowhere]
inferencer = "nope/m"
"""


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI

    def chat(self, recipe: str, content: str = "go", **kwargs):
        return self.server.client().chat.completions.create(
            model=f"woollama/{recipe}", messages=[{"role": "user", "content": content}], **kwargs
        )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("recipes")
    # mcp.json: the bundled hello and textops servers
    with router_with_fake(root, recipes=RECIPES, env={"WOOLLAMA_TOOL_TIMEOUT": "3"}) as (
        server,
        fake,
    ):
        health = server.http().get("/v1/tools").json()["servers"]
        assert {s["name"]: s["status"] for s in health} == {"hello": "connected",
                                                            "textops": "connected"}  # fmt: skip
        yield Rig(server, fake)


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


def tool_messages(fake: FakeOpenAI, request: int) -> list[dict]:
    return [m for m in fake.requests[request].body["messages"] if m["role"] == "tool"]


def test_recipe_runs_a_tool_turn_then_answers(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 3}')]),
        Text(
            "Counted to 3.", usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        ),
    )
    reply = rig.chat("counter", "count to 3")
    assert reply.choices[0].message.content == "Counted to 3."
    assert reply.model == "woollama/counter"
    first = fake.requests[0].body
    assert first["model"] == "m"
    assert first["messages"][0] == {"role": "system", "content": "You count things."}
    assert first["temperature"] == 0.1
    assert sorted(t["function"]["name"] for t in first["tools"]) == [
        "hello__count_to",
        "textops__word_count",
    ]
    result = tool_messages(fake, 1)[0]
    assert json.loads(result["content"]) == {"count": 3, "total": 3, "done": True}
    assert reply.usage.total_tokens >= 7  # summed over both turns


def test_parallel_tool_calls_are_all_answered_in_order(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 2}'), ("textops__word_count", '{"text": "a b c"}')]),
        Text("done"),
    )
    rig.chat("counter")
    assistant = fake.requests[1].body["messages"][-3]
    results = tool_messages(fake, 1)
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in assistant["tool_calls"]]
    assert assistant["content"] == ""  # never null: some engines reject it
    assert json.loads(results[0]["content"])["count"] == 2
    assert results[1]["content"] == "3"


def test_streamed_recipe_hides_tool_turns_and_reassembles_fragments(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls(
            [("textops__word_count", '{"text": "one two"}'), ("hello__count_to", '{"n": 4}')]
        ),
        Text("There are two words."),
    )
    stream = rig.chat("counter", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "There are two words."
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None
    results = tool_messages(fake, 1)
    assert results[0]["content"] == "2"
    assert json.loads(results[1]["content"])["count"] == 4


def test_tool_outside_the_allow_list_is_refused_even_if_it_exists(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("textops__uppercase", '{"text": "shout"}')]), Text("ok"))
    assert rig.chat("counter").choices[0].message.content == "ok"
    refusal = tool_messages(fake, 1)[0]["content"]
    assert "not available in this recipe" in refusal
    assert "SHOUT" not in refusal


def test_malformed_arguments_are_reported_to_the_model(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": ')]),
        ToolCalls([("hello__count_to", "[1]")]),
        Text("ok"),
    )
    rig.chat("counter")
    assert "not valid JSON" in tool_messages(fake, 1)[0]["content"]
    assert "JSON object" in tool_messages(fake, 2)[-1]["content"]


def test_tool_errors_are_marked_as_errors(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("hello__count_to", '{"n": 0}')]), Text("ok"))
    rig.chat("counter")
    assert tool_messages(fake, 1)[0]["content"].startswith("Error:")


def test_tool_timeout_is_reported_to_the_model(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("hello__count_to", '{"n": 5, "delay_ms": 2000}')]), Text("ok"))
    rig.chat("counter")
    assert "did not answer within 3s" in tool_messages(fake, 1)[0]["content"]


def test_recipe_without_tools_offers_none(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("brief"))
    assert rig.chat("plain").choices[0].message.content == "brief"
    assert "tools" not in fake.requests[0].body
    assert fake.requests[0].body["messages"][0]["content"] == "Be brief."


def test_a_tool_on_no_configured_server_is_a_404_naming_it(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        rig.chat("ghostly")
    assert "'ghost.tool'" in info.value.message and "no server 'ghost'" in info.value.message
    assert fake.requests == []  # the model was never asked without its tools


def test_a_misspelt_tool_is_a_404_with_a_suggestion(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        rig.chat("misspelt", stream=True)
    assert "has no tool 'count_too'" in info.value.message
    assert "did you mean 'hello.count_to'?" in info.value.message
    assert fake.requests == []


@pytest.mark.parametrize("recipe", ["forced", "forced_short"])
def test_tool_choice_may_name_the_tool_as_config_writes_it(rig: Rig, fake: FakeOpenAI, recipe: str):
    fake.script(ToolCalls([("hello__count_to", '{"n": 2}')]), Text("two"))
    assert rig.chat(recipe).choices[0].message.content == "two"
    first, second = fake.requests
    assert first.body["tool_choice"] == {
        "type": "function",
        "function": {"name": "hello__count_to"},
    }
    assert "tool_choice" not in second.body  # forced on the first turn only


def test_optional_tools_that_are_missing_are_left_out(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("fine"))
    assert rig.chat("optional").choices[0].message.content == "fine"
    assert [t["function"]["name"] for t in fake.requests[0].body["tools"]] == ["hello__hello"]


def test_max_turns_is_a_clear_error(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls([("hello__hello", '{"name": "a"}')]),
        ToolCalls([("hello__hello", '{"name": "b"}')]),
    )
    with pytest.raises(openai.APIStatusError) as info:
        rig.chat("short")
    assert info.value.status_code == 502
    assert "max_turns=2" in info.value.message


def test_backend_failure_mid_loop_is_a_502(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 1}')]),
        Error(500, "engine exploded", type="server_error"),
    )
    with pytest.raises(openai.APIStatusError) as info:
        rig.chat("counter")
    assert info.value.status_code == 502
    assert "engine exploded" in info.value.message


def test_backend_dying_mid_stream_ends_with_an_error_event(rig: Rig, fake: FakeOpenAI):
    fake.script(Die(after_chunks=2))
    with pytest.raises(openai.APIError):
        for _ in rig.chat("plain", stream=True):
            pass


def test_client_disconnect_cancels_the_loop_and_upstream(rig: Rig, fake: FakeOpenAI):
    before = fake.disconnects
    fake.script(Chunks(3, delay=60.0, text="slow"))
    with rig.chat("plain", stream=True) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
    assert fake.wait_disconnect(timeout=10.0, count=before + 1)


@pytest.mark.parametrize(("recipe", "status"), [("missing", 404), ("nowhere", 400)])
def test_bad_recipes_get_clear_errors(rig: Rig, fake: FakeOpenAI, recipe: str, status: int):
    with pytest.raises(openai.APIStatusError) as info:
        rig.chat(recipe)
    assert info.value.status_code == status


def test_recipe_first_error_before_streaming_is_an_http_status(rig: Rig, fake: FakeOpenAI):
    fake.script(Error(401, "bad key", type="invalid_request_error", code="invalid_api_key"))
    with pytest.raises(openai.AuthenticationError):
        rig.chat("plain", stream=True)


def test_non_streaming_client_that_gives_up_cancels_the_backend_request(rig: Rig, fake: FakeOpenAI):
    before = fake.disconnects
    fake.script(Slow(60.0))
    client = rig.server.client(timeout=2.0)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="woollama/plain", messages=[{"role": "user", "content": "x"}]
        )
    assert fake.wait_disconnect(timeout=10.0, count=before + 1)
