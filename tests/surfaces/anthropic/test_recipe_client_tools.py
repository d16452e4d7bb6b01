"""A recipe over Messages with the client's own tools: the client's stay the client's."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes.openai_backend import FakeOpenAI, Text, ToolCalls
from tests.surfaces.anthropic.conftest import Rig

BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                     "required": ["command"]},
}  # fmt: skip
# Named as the downstream tool `hello.hello`, which recipe `counter` does not allow.
LOOKALIKE = {"name": "hello__hello", "input_schema": {"type": "object", "properties": {}}}
ASK = [{"role": "user", "content": "count, then list files"}]


def _offered(fake: FakeOpenAI, index: int = -1) -> list[str]:
    return [t["function"]["name"] for t in fake.requests[index].body.get("tools", [])]


def test_a_client_tool_call_ends_the_turn_and_its_result_continues_the_recipe(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 2}')]),  # the recipe's tool: runs here
        ToolCalls([("Bash", '{"command": "ls"}')]),  # the client's: goes back to it
        Text("Counted to 2; the files are a and b."),
    )
    client = rig.client()
    first = client.messages.create(model="woollama/counter", max_tokens=50, messages=ASK,
                                   tools=[BASH])  # fmt: skip
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert (use.name, use.input) == ("Bash", {"command": "ls"})
    assert _offered(fake) == ["hello__count_to", "Bash"]
    assert fake.requests[-1].body["messages"][-1]["role"] == "tool"  # count_to's result
    second = client.messages.create(
        model="woollama/counter", max_tokens=50, tools=[BASH],
        messages=[*ASK, {"role": "assistant", "content": first.content},  # type: ignore[list-item]
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                "content": "a\nb"}]}],
    )  # fmt: skip
    assert second.content[0].text == "Counted to 2; the files are a and b."  # type: ignore[union-attr]
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "tool", "tool_call_id": use.id, "content": "a\nb"}  # fmt: skip


def test_a_streamed_recipe_hands_client_tool_calls_back_as_tool_use_blocks(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(ToolCalls([("Bash", '{"command": "pwd"}'), ("Bash", '{"command": "ls"}')]))
    with rig.client().messages.stream(
        model="woollama/counter", max_tokens=50, messages=ASK, tools=[BASH]
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.input for u in uses] == [{"command": "pwd"}, {"command": "ls"}]
    assert final.stop_reason == "tool_use"
    assert len(fake.requests) == 1


def test_a_client_tool_named_like_a_disallowed_downstream_tool_never_runs_here(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(ToolCalls([("hello__hello", "{}")]))
    message = rig.client().messages.create(model="woollama/counter", max_tokens=50,
                                           messages=ASK, tools=[LOOKALIKE])  # fmt: skip
    [use] = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "hello__hello"
    assert len(fake.requests) == 1  # no second turn: nothing ran inside woollama


def test_a_client_tool_named_like_a_recipe_tool_is_refused(rig: Rig, fake: FakeOpenAI):
    clash = {"name": "hello__count_to", "input_schema": {"type": "object", "properties": {}}}
    with pytest.raises(anthropic.BadRequestError, match="hello__count_to"):
        rig.client().messages.create(model="woollama/counter", max_tokens=50, messages=ASK,
                                     tools=[clash])  # fmt: skip
    assert fake.requests == []
