"""`POST /v1/responses` end to end: the real `openai` SDK → real woollama → scripted backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.fakes.openai_backend import Chunks, Die, Error, FakeOpenAI, Raw, Text, ToolCalls
from tests.harness import Woollama, reset, router_with_fake

RECIPES = """
[recipes.counter]
inferencer = "fake/m"
system = "You count things."
tools = ["hello.count_to"]
"""

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAC"
    "hwGA60e6kgAAAABJRU5ErkJggg=="
)
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI

    @property
    def client(self) -> openai.OpenAI:
        return self.server.client()

    def post(self, body: dict[str, Any]) -> Response:
        """A non-streamed response, strictly validated (the SDK itself does not validate)."""
        answer = self.server.http().post("/v1/responses", json=body)
        assert answer.status_code == 200, answer.text
        return Response.model_validate(answer.json())

    def events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """A streamed response's events, each checked against its SSE name and the SDK."""
        events = []
        with self.server.http().stream("POST", "/v1/responses", json=body) as answer:
            assert answer.status_code == 200, answer.read()
            assert answer.headers["content-type"].startswith("text/event-stream")
            raw = b"".join(answer.iter_bytes()).decode()
        for block in filter(None, raw.split("\n\n")):
            name, data = block.split("\n")
            event = json.loads(data.removeprefix("data: "))
            assert name == f"event: {event['type']}"
            EVENTS.validate_python(event)
            events.append(event)
        return events

    def upstream(self, index: int = -1) -> dict[str, Any]:
        return self.fake.requests[index].body


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("responses")
    # mcp.json: the bundled servers, whose `hello` the recipe uses
    with router_with_fake(root, recipes=RECIPES, env={"WOOLLAMA_TOOL_TIMEOUT": "3"}) as (
        server,
        fake,
    ):
        health = server.http().get("/v1/tools").json()["servers"]
        assert {s["name"]: s["status"] for s in health}["hello"] == "connected"
        yield Rig(server, fake)


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


# -- requests become chat completions ----------------------------------------------


def test_string_input_answers_with_one_message_item(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("Hello there", usage={"prompt_tokens": 3, "completion_tokens": 2,
                                           "total_tokens": 5}))  # fmt: skip
    response = rig.client.responses.create(model="fake/m", input="hi")
    assert response.output_text == "Hello there"
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "fake/m"
    [item] = response.output
    assert item.type == "message" and item.id.startswith("msg_") and item.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (3, 2)
    assert response.usage.total_tokens == 5
    assert response.store is False and response.previous_response_id is None
    assert rig.upstream() == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_response_object_validates_with_the_sdk_model(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("ok"))
    response = rig.post({"model": "fake/m", "input": "hi", "metadata": {"k": "v"}})
    assert response.output_text == "ok"
    assert response.metadata == {"k": "v"}
    assert response.tools == [] and response.tool_choice == "auto"
    assert response.parallel_tool_calls is True
    assert response.text is not None and response.text.format.type == "text"
    assert response.error is None and response.incomplete_details is None


def test_list_input_with_images_and_assistant_history_becomes_chat_messages(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(Text("a red dot"))
    rig.client.responses.create(
        model="fake/m",
        input=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is 1+1?"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "2", "annotations": []}]},
            {"role": "developer", "content": [{"type": "input_text", "text": "Describe images."}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": PNG_DATA_URL, "detail": "low"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
            ]},
        ],
    )  # fmt: skip
    assert rig.upstream()["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is 1+1?"},
        {"role": "assistant", "content": "2"},
        {"role": "system", "content": "Describe images."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": PNG_DATA_URL, "detail": "low"}},
            {"type": "image_url",
             "image_url": {"url": "https://example.com/a.png", "detail": "auto"}},
        ]},
    ]  # fmt: skip


def test_instructions_become_a_leading_system_message_and_are_echoed(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("Arr"))
    response = rig.client.responses.create(
        model="fake/m", instructions="Talk like a pirate.", input="hello"
    )
    assert rig.upstream()["messages"] == [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "hello"},
    ]
    assert response.instructions == "Talk like a pirate."


def test_settings_are_renamed_for_chat_and_echoed(rig: Rig, fake: FakeOpenAI):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    fake.script(Text('{"answer": "4"}'))
    response = rig.client.responses.create(
        model="fake/m",
        input="2+2?",
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema,
                         "strict": True}},
        max_output_tokens=50,
        temperature=0.2,
        top_p=0.9,
        reasoning={"effort": "low"},
        user="u-1",
        metadata={"trace": "t-1"},
    )  # fmt: skip
    body = rig.upstream()
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert body["max_tokens"] == 50
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)
    assert body["reasoning_effort"] == "low" and body["user"] == "u-1"
    # Chat APIs refuse metadata without storage, and tool settings without tools.
    assert not {"metadata", "max_output_tokens", "tools", "parallel_tool_calls"} & body.keys()
    assert json.loads(response.output_text) == {"answer": "4"}
    assert response.text is not None and response.text.format.type == "json_schema"
    assert (response.max_output_tokens, response.temperature, response.top_p) == (50, 0.2, 0.9)
    assert response.metadata == {"trace": "t-1"}


def test_json_object_format_and_unknown_fields(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("{}"))
    rig.post({"model": "fake/m", "input": "x", "text": {"format": {"type": "json_object"}},
              "some_future_field": {"a": 1}, "store": False})  # fmt: skip
    assert rig.upstream()["response_format"] == {"type": "json_object"}
    assert "some_future_field" not in rig.upstream()


def test_length_finish_is_an_incomplete_response(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("cut sho", finish_reason="length"))
    response = rig.post({"model": "fake/m", "input": "long story", "max_output_tokens": 2})
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "cut sho"


def test_reasoning_content_becomes_a_reasoning_item_with_token_details(rig: Rig, fake: FakeOpenAI):
    completion = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "42", "reasoning_content": "6 times 7"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 3}},
    }  # fmt: skip
    fake.script(Raw(200, json.dumps(completion).encode(), "application/json"))
    response = rig.post({"model": "fake/m", "input": "answer?"})
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert [s.text for s in reasoning.summary] == ["6 times 7"]
    assert message.type == "message" and response.output_text == "42"
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 4
    assert response.usage.output_tokens_details.reasoning_tokens == 3


# -- function tools ---------------------------------------------------------------


def test_function_tool_calls_round_trip_with_function_call_output(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text("Sunny in Paris."))
    client = rig.client
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.responses.create(
        model="fake/m", input=history, tools=[WEATHER_TOOL], tool_choice="required"
    )
    [call] = first.output
    assert call.type == "function_call" and call.id is not None and call.id.startswith("fc_")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id.startswith("call_") and call.status == "completed"
    sent = rig.upstream()
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": WEATHER_TOOL["parameters"]}}]  # fmt: skip
    assert sent["tool_choice"] == "required"
    assert first.tools[0].type == "function" and first.tools[0].name == "get_weather"

    # The SDK way: append the output items as they came, then the result.
    history += first.output
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "22C"})
    second = client.responses.create(model="fake/m", input=history, tools=[WEATHER_TOOL])
    assert second.output_text == "Sunny in Paris."
    assert rig.upstream()["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": call.call_id, "type": "function",
            "function": {"name": "get_weather", "arguments": call.arguments}}]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "22C"},
    ]  # fmt: skip


def test_parallel_calls_are_one_assistant_turn_upstream(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("get_weather", '{"city": "A"}'), ("get_weather", '{"city": "B"}')]))
    first = rig.post({"model": "fake/m", "input": "A and B?", "tools": [WEATHER_TOOL],
                      "tool_choice": {"type": "function", "name": "get_weather"}})  # fmt: skip
    assert rig.upstream()["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    calls = [item for item in first.output if item.type == "function_call"]
    assert [json.loads(c.arguments)["city"] for c in calls] == ["A", "B"]
    fake.script(Text("both sunny"))
    history = [{"role": "user", "content": "A and B?"},
               *(c.model_dump(exclude_none=True) for c in calls),
               *({"type": "function_call_output", "call_id": c.call_id, "output": "sun"}
                 for c in calls)]  # fmt: skip
    rig.post({"model": "fake/m", "input": history, "tools": [WEATHER_TOOL]})
    roles = [m["role"] for m in rig.upstream()["messages"]]
    assert roles == ["user", "assistant", "tool", "tool"]
    assert len(rig.upstream()["messages"][1]["tool_calls"]) == 2


# -- streaming --------------------------------------------------------------------


def test_stream_events_are_in_order_numbered_and_match_the_final_response(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(Text("one two three"))
    events = rig.events({"model": "fake/m", "input": "count", "stream": True})
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert deltas >= 3  # forwarded as they came, not as one lump
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "one two three"
    item_id = events[2]["item"]["id"]
    assert {e["item_id"] for e in events if "item_id" in e} == {item_id}
    final = Response.model_validate(events[-1]["response"])
    assert [item.id for item in final.output] == [item_id]
    assert final.output_text == text and final.id == events[0]["response"]["id"]
    assert final.usage is not None and final.usage.output_tokens == 3
    assert rig.upstream()["stream_options"] == {"include_usage": True}


def test_sdk_stream_helper_gives_text_and_final_response(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("streamed hello"))
    with rig.client.responses.stream(model="fake/m", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "streamed hello" == final.output_text


def test_streamed_parallel_tool_calls_come_out_one_item_after_another(rig: Rig, fake: FakeOpenAI):
    # The fake interleaves the two calls' argument fragments, as some backends do.
    fake.script(
        ToolCalls([("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')])
    )
    events = rig.events({"model": "fake/m", "input": "two cities", "stream": True,
                         "tools": [WEATHER_TOOL]})  # fmt: skip
    open_items: set[int] = set()
    for event in events:  # never two items in progress at once
        if event["type"] == "response.output_item.added":
            assert not open_items
            open_items.add(event["output_index"])
        elif event["type"] == "response.output_item.done":
            open_items.remove(event["output_index"])
    arguments: dict[str, str] = {}
    for event in events:
        if event["type"] == "response.function_call_arguments.delta":
            arguments[event["item_id"]] = arguments.get(event["item_id"], "") + event["delta"]
    final = Response.model_validate(events[-1]["response"])
    calls = [item for item in final.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert {c.id: c.arguments for c in calls} == arguments
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [e["arguments"] for e in done] == [c.arguments for c in calls]


def test_sdk_stream_with_create_parses_every_event(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("get_weather", '{"city": "Rome"}')], content="Let me look."))
    stream = rig.client.responses.create(
        model="fake/m", input="Rome?", tools=[WEATHER_TOOL], stream=True
    )
    events = list(stream)
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    final = events[-1].response
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == "Let me look."


def test_streamed_reasoning_is_a_summary_before_the_message(rig: Rig, fake: FakeOpenAI):
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"  # fmt: skip

    sse = (
        chunk({"role": "assistant", "reasoning_content": "think"})
        + chunk({"reasoning_content": "ing"})
        + chunk({"content": "done"})
        + chunk({}, "stop")
        + "data: [DONE]\n\n"
    )
    fake.script(Raw(200, sse.encode(), "text/event-stream"))
    events = rig.events({"model": "fake/m", "input": "x", "stream": True})
    kinds = [e["type"] for e in events]
    assert kinds.index("response.reasoning_summary_text.done") < kinds.index(
        "response.content_part.added"
    )
    final = Response.model_validate(events[-1]["response"])
    reasoning, _message = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "thinking"
    assert final.output_text == "done"


def test_client_disconnect_cancels_the_upstream_request(rig: Rig, fake: FakeOpenAI):
    fake.script(Chunks(3, delay=60.0, text="first"))
    with rig.client.responses.create(model="fake/m", input="x", stream=True) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                assert event.delta == "first"
                break
    assert fake.wait_disconnect(timeout=10.0)


# -- recipes ----------------------------------------------------------------------


def test_recipe_streams_only_the_final_text(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("hello__count_to", '{"n": 3}')]), Text("Counted to 3."))
    events = rig.events({"model": "woollama/counter", "input": "count to 3", "stream": True,
                         "tools": [WEATHER_TOOL]})  # fmt: skip
    items = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert [item["type"] for item in items] == ["message"]
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "Counted to 3." and final.model == "woollama/counter"
    assert [t.name for t in final.tools] == ["get_weather"]  # type: ignore[union-attr]
    first = rig.upstream(0)
    assert first["messages"][0] == {"role": "system", "content": "You count things."}
    # The client's tools are offered beside the recipe's (tests/recipes/test_client_tools.py).
    assert [t["function"]["name"] for t in first["tools"]] == ["hello__count_to", "get_weather"]
    tool_result = next(m for m in rig.upstream(1)["messages"] if m["role"] == "tool")
    assert json.loads(tool_result["content"])["count"] == 3


def test_recipe_answers_without_streaming(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("hello__count_to", '{"n": 1}')]), Text("One."))
    response = rig.post({"model": "woollama/counter", "input": "count to 1"})
    assert response.output_text == "One." and len(response.output) == 1
    assert response.usage is not None and response.usage.total_tokens > 0


# -- errors -----------------------------------------------------------------------


def test_missing_input_is_a_400(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        rig.client.responses.create(model="fake/m")
    assert "`input` is required" in info.value.message
    assert not fake.requests


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"input": "x"}, "`model` is required"),
        ({"model": "fake/m", "input": []}, "non-empty list"),
        ({"model": "fake/m", "input": [{"type": "web_search_call"}]}, "unsupported input item"),
        ({"model": "fake/m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "fake/m", "input": "x", "tools": [{"type": "web_search"}]},
         "only function tools"),
        ({"model": "fake/m", "input": "x", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"model": "fake/m", "input": [{"type": "function_call_output", "call_id": "c",
                                        "output": "x"}]}, "no function_call item"),
    ],
)  # fmt: skip
def test_bad_requests_are_400s_that_say_what_is_wrong(
    rig: Rig, fake: FakeOpenAI, body: dict[str, Any], says: str
):
    answer = rig.server.http().post("/v1/responses", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert says in error["message"] and error["type"] == "invalid_request_error"
    assert not fake.requests


def test_unknown_provider_is_a_400(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        rig.client.responses.create(model="nope/m", input="x")
    assert info.value.code == "model_not_found" and "nope" in info.value.message


def test_unknown_recipe_is_a_404(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        rig.client.responses.create(model="woollama/nope", input="x", stream=True)
    assert "woollama/counter" in info.value.message  # it says which recipes exist


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_rate_limit_is_relayed_with_its_status(rig: Rig, fake: FakeOpenAI, stream: bool):
    fake.script(Error(429, "slow down please", type="rate_limit_error", code="rate_limited"))
    with pytest.raises(openai.RateLimitError) as info:
        rig.client.responses.create(model="fake/m", input="x", stream=stream)
    assert info.value.message.endswith("slow down please")
    assert info.value.code == "rate_limited"


@pytest.mark.parametrize(
    ("extra", "status"),
    [({"store": True}, 501), ({"previous_response_id": "resp_123"}, 404),
     ({"conversation": "conv_1"}, 404)],
)  # fmt: skip
def test_stateful_requests_without_a_store_or_handle_get_clear_errors(
    rig: Rig, fake: FakeOpenAI, extra: dict[str, Any], status: int
):
    with pytest.raises(openai.APIStatusError) as info:
        rig.client.responses.create(model="fake/m", input="x", **extra)
    assert info.value.status_code == status
    if status == 501:
        assert "conversationStore" in info.value.message
    assert not fake.requests


def test_backend_dying_mid_stream_ends_with_error_then_response_failed(rig: Rig, fake: FakeOpenAI):
    fake.script(Die(after_chunks=2))
    events = list(rig.client.responses.create(model="fake/m", input="x", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds.count("response.output_text.delta") == 2
    assert kinds[-2:] == ["error", "response.failed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "server_error" and "fake" in failed.error.message
    assert failed.output_text == "toktok"  # what arrived is kept, marked incomplete
