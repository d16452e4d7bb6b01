"""`POST /v1/messages` to an OpenAI-speaking backend: the real `anthropic` SDK end to end."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from tests.fakes.openai_backend import Chunks, Die, Error, FakeOpenAI, Raw, Text, ToolCalls
from tests.surfaces.anthropic.conftest import TOKEN, Rig

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
    "RU5ErkJggg=="
)
READ_TOOL = {
    "name": "read_file",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}},
                     "required": ["path"]},
}  # fmt: skip
LIST_TOOL = {"name": "list_dir", "input_schema": {"type": "object", "properties": {}}}
USER_HI = [{"role": "user", "content": "hi"}]


def _raw_events(rig: Rig, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The stream as it is on the wire: every event's name and data, pings included."""
    http = rig.server.http(headers={"x-api-key": TOKEN})
    with http, http.stream("POST", "/v1/messages", json={**body, "stream": True}) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(answer.iter_bytes()).decode()
    events = []
    for block in filter(None, raw.split("\n\n")):
        name, data = block.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


# -- text ----------------------------------------------------------------------------


def test_text_answer_comes_back_as_a_message_with_usage(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("Hello there", usage={"prompt_tokens": 9, "completion_tokens": 2,
                                           "total_tokens": 11}))  # fmt: skip
    message = rig.client().messages.create(
        model="fake/m", max_tokens=50, messages=USER_HI, system="Be kind.",
        stop_sequences=["END"], metadata={"user_id": "u-1"},
        # this SDK version has no parameters for these any more; older clients send them
        extra_body={"temperature": 0.5, "top_k": 20},
        output_config={"effort": "xhigh"}, cache_control={"type": "ephemeral"},
    )  # fmt: skip
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.model == "fake/m"
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello there")]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 2)
    assert fake.requests[-1].body == {
        "model": "m",
        "max_tokens": 50,
        "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}],
        "stop": ["END"],
        "temperature": 0.5,
        "top_k": 20,
        "user": "u-1",
        "reasoning_effort": "high",
    }


def test_a_length_cut_answer_reports_max_tokens(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("Hello", finish_reason="length"))
    message = rig.client().messages.create(model="fake/m", max_tokens=1, messages=USER_HI)
    assert message.stop_reason == "max_tokens"


def test_streamed_text_arrives_as_anthropics_event_sequence(rig: Rig, fake: FakeOpenAI):
    # Spaced out, so each piece arrives on its own and must be forwarded as it comes.
    fake.script(Chunks(3, delay=0.05, text="tok "))
    with rig.client().messages.stream(model="fake/m", max_tokens=50, messages=USER_HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "tok tok tok " and len(pieces) >= 2
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == "tok tok tok "  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}


def test_the_wire_stream_has_a_ping_and_message_delta_before_message_stop(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(Text("a b"))
    names = [name for name, _ in _raw_events(rig, {"model": "fake/m", "max_tokens": 9,
                                                   "messages": USER_HI})]  # fmt: skip
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}


def test_reasoning_from_the_backend_streams_as_a_thinking_block(rig: Rig, fake: FakeOpenAI):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def data(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return "data: " + json.dumps({**chunk, "choices": [choice]}) + "\n\n"

    sse = (data({"role": "assistant", "reasoning_content": "Let me think."})
           + data({"content": "42"}) + data({}, "stop") + "data: [DONE]\n\n")  # fmt: skip
    fake.script(Raw(200, sse.encode(), "text/event-stream"))
    with rig.client().messages.stream(
        model="fake/m", max_tokens=2000, messages=USER_HI,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:  # fmt: skip
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert final.content[1].text == "42"  # type: ignore[union-attr]
    assert fake.requests[-1].body["reasoning_effort"] == "low"


# -- tools ---------------------------------------------------------------------------


def test_a_tool_call_round_trips_as_tool_use_and_tool_result(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("read_file", '{"path": "a.txt"}')], content="Reading."),
                Text("It says alpha."))  # fmt: skip
    client = rig.client()
    first = client.messages.create(
        model="fake/m", max_tokens=100, messages=USER_HI, tools=[READ_TOOL],
        tool_choice={"type": "tool", "name": "read_file"},
    )  # fmt: skip
    assert first.stop_reason == "tool_use"
    text, use = first.content
    assert text.type == "text" and text.text == "Reading."  # type: ignore[union-attr]
    assert use.type == "tool_use" and use.name == "read_file"  # type: ignore[union-attr]
    assert use.input == {"path": "a.txt"}  # type: ignore[union-attr]
    sent = fake.requests[-1].body
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "read_file", "parameters": READ_TOOL["input_schema"],
        "description": "Read a file"}}]  # fmt: skip
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "read_file"}}
    second = client.messages.create(
        model="fake/m", max_tokens=100, tools=[READ_TOOL],
        messages=[*USER_HI, {"role": "assistant", "content": first.content},  # type: ignore[list-item]
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,  # type: ignore[union-attr]
                                                "content": "alpha"}]}],
    )  # fmt: skip
    assert second.content[0].text == "It says alpha."  # type: ignore[union-attr]
    history = fake.requests[-1].body["messages"]
    assert history[1]["tool_calls"][0]["id"] == use.id  # type: ignore[union-attr]
    assert history[2] == {"role": "tool", "tool_call_id": use.id, "content": "alpha"}  # type: ignore[union-attr]


def test_several_streamed_tool_calls_become_several_tool_use_blocks(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("read_file", '{"path": "a"}'), ("list_dir", "{}"),
                           ("read_file", '{"path": "b"}')]))  # fmt: skip
    with rig.client().messages.stream(
        model="fake/m", max_tokens=100, messages=USER_HI, tools=[READ_TOOL, LIST_TOOL],
        tool_choice={"type": "any", "disable_parallel_tool_use": False},
    ) as stream:  # fmt: skip
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("read_file", {"path": "a"}), ("list_dir", {}), ("read_file", {"path": "b"})]  # fmt: skip
    assert len({u.id for u in uses}) == 3
    assert final.stop_reason == "tool_use"
    assert fake.requests[-1].body["tool_choice"] == "required"


def test_a_failed_tool_result_tells_the_model_it_failed(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("Sorry."))
    rig.client().messages.create(model="fake/m", max_tokens=10, tools=[READ_TOOL], messages=[
        {"role": "user", "content": "read a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9",
                                           "name": "read_file", "input": {"path": "a"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9",
                                      "is_error": True, "content": "ENOENT"}]},
    ])  # fmt: skip
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "tool", "tool_call_id": "toolu_9", "content": "Error: ENOENT"}  # fmt: skip


def test_an_image_block_reaches_the_backend_as_a_data_url(rig: Rig, fake: FakeOpenAI):
    fake.script(Text("A dot."))
    message = rig.client().messages.create(model="fake/m", max_tokens=10, messages=[
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}},
            {"type": "text", "text": "What is this?"},
        ]},
    ])  # fmt: skip
    assert message.content[0].text == "A dot."  # type: ignore[union-attr]
    assert fake.requests[-1].body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "text", "text": "What is this?"},
    ]


# -- routing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "backend_model"),
    [("claude-haiku-4-5", "exact"), ("claude-haiku-3", "haiku-glob"),
     ("claude-sonnet-4-5-20250929", "local-model")],
)  # fmt: skip
def test_aliases_route_claude_names_to_their_first_target(
    rig: Rig, fake: FakeOpenAI, model: str, backend_model: str
):
    message = rig.client().messages.create(model=model, max_tokens=5, messages=USER_HI)
    assert message.model == model  # the client is answered under the name it asked for
    assert fake.requests[-1].body["model"] == backend_model


def test_a_recipe_runs_its_tool_loop_inside_woollama(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("hello__count_to", '{"n": 3}')]), Text("Counted to 3."))
    message = rig.client().messages.create(
        model="woollama/counter", max_tokens=50, messages=[{"role": "user", "content": "count"}]
    )
    assert [(b.type, b.text) for b in message.content] == [("text", "Counted to 3.")]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    tool_turn = fake.requests[-1].body["messages"]
    assert tool_turn[0] == {"role": "system", "content": "You count things."}
    assert tool_turn[-1]["role"] == "tool" and '"count": 3' in tool_turn[-1]["content"]


def test_an_alias_to_a_recipe_streams_the_recipes_answer(rig: Rig, fake: FakeOpenAI):
    fake.script(ToolCalls([("hello__count_to", '{"n": 2}')]), Text("Done counting."))
    with rig.client().messages.stream(
        model="claude-opus-4-1", max_tokens=50, messages=[{"role": "user", "content": "count"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "Done counting."
    assert len(fake.requests) == 2  # both turns ran here; the client saw only the answer


def test_an_alias_falls_over_to_its_next_target_when_the_first_is_busy(rig: Rig, fake: FakeOpenAI):
    fake.script(Error(503, "busy", type="server_error"), Text("from the second"))
    answer = rig.client().messages.with_raw_response.create(
        model="two-targets", max_tokens=10, messages=USER_HI
    )
    assert answer.parse().content[0].text == "from the second"  # type: ignore[union-attr]
    assert [r.body["model"] for r in fake.requests] == ["first", "second"]


# -- count_tokens --------------------------------------------------------------------


def test_count_tokens_for_a_local_model_is_an_estimate_marked_as_such(rig: Rig, fake: FakeOpenAI):
    client = rig.client()
    short = client.messages.count_tokens(model="fake/m", messages=USER_HI)
    long = client.messages.with_raw_response.count_tokens(
        model="fake/m", messages=[{"role": "user", "content": "word " * 400}], tools=[READ_TOOL]
    )
    assert long.headers["woollama-token-count"] == "estimate"
    assert 0 < short.input_tokens < long.parse().input_tokens
    assert 300 <= long.parse().input_tokens <= 1000
    # The fake has no tokenizer route (one probe, refused): nothing else was asked of it.
    assert not [r for r in fake.requests if r.path.endswith("/chat/completions")]
    assert long.parse().model_extra == {"estimate": True}


# -- errors --------------------------------------------------------------------------


def _error(exc: anthropic.APIStatusError) -> tuple[int, str]:
    body = exc.body
    assert isinstance(body, dict) and body["type"] == "error", body
    assert set(body["error"]) == {"type", "message"}
    return exc.status_code, body["error"]["type"]


@pytest.mark.parametrize(
    ("reply", "status", "kind", "exception"),
    [
        (Error(400, "bad temperature"), 400, "invalid_request_error", anthropic.BadRequestError),
        (Error(401, "bad key", type="authentication_error"), 401, "authentication_error",
         anthropic.AuthenticationError),
        (Error(404, "no such model"), 404, "not_found_error", anthropic.NotFoundError),
        (Error(429, "slow down", headers={"retry-after-ms": "0"}), 429, "rate_limit_error",
         anthropic.RateLimitError),
        (Error(503, "busy"), 529, "overloaded_error", anthropic.OverloadedError),
        (Error(500, "it broke", type="server_error"), 500, "api_error",
         anthropic.InternalServerError),
    ],
)  # fmt: skip
def test_backend_errors_reach_the_client_in_anthropics_shape(
    rig: Rig, fake: FakeOpenAI, reply: Error, status: int, kind: str, exception: type
):
    fake.script(reply)
    with pytest.raises(exception) as caught:
        rig.client().messages.create(model="fake/m", max_tokens=5, messages=USER_HI)
    assert _error(caught.value) == (status, kind)
    assert reply.message in caught.value.body["error"]["message"]  # type: ignore[index]
    for name, value in (reply.headers or {}).items():  # back-off headers are relayed
        assert caught.value.response.headers[name] == value


def test_an_unknown_recipe_is_a_not_found_error(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(anthropic.NotFoundError) as caught:
        rig.client().messages.create(model="woollama/nope", max_tokens=5, messages=USER_HI)
    assert _error(caught.value) == (404, "not_found_error")


def test_a_bad_field_is_an_invalid_request_naming_it(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(anthropic.BadRequestError) as caught:
        rig.client().messages.create(
            model="fake/m", max_tokens=5,
            messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "x"}}]}],
        )  # fmt: skip
    assert _error(caught.value) == (400, "invalid_request_error")
    assert "messages.0.content.0.source" in caught.value.body["error"]["message"]  # type: ignore[index]
    assert fake.requests == []


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]"])
def test_a_malformed_body_is_an_invalid_request_error(rig: Rig, raw: bytes):
    with rig.server.http(headers={"x-api-key": TOKEN}) as http:
        answer = http.post("/v1/messages", content=raw,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_a_wrong_key_is_an_authentication_error_in_anthropics_shape(rig: Rig):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        rig.client(api_key="wrong").messages.create(model="fake/m", max_tokens=5, messages=USER_HI)
    assert _error(caught.value) == (401, "authentication_error")


def test_the_token_counts_as_a_bearer_token_too(rig: Rig, fake: FakeOpenAI):
    client = anthropic.Anthropic(base_url=f"http://{rig.server.address}", auth_token=TOKEN,
                                 api_key=None, max_retries=0, timeout=30.0)  # fmt: skip
    message = client.messages.create(model="fake/m", max_tokens=5, messages=USER_HI)
    assert message.content[0].text == "echo: hi"  # type: ignore[union-attr]


def test_anthropic_headers_are_accepted(rig: Rig, fake: FakeOpenAI):
    message = rig.client().messages.create(
        model="fake/m", max_tokens=5, messages=USER_HI,
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31",
                       "anthropic-version": "2023-06-01"},
    )  # fmt: skip
    assert message.content[0].text == "echo: hi"  # type: ignore[union-attr]


def test_a_stream_that_breaks_ends_with_an_error_event(rig: Rig, fake: FakeOpenAI):
    fake.script(Die(after_chunks=2))
    events = _raw_events(rig, {"model": "fake/m", "max_tokens": 9, "messages": USER_HI})
    name, data = events[-1]
    assert name == "error" and data["type"] == "error"
    assert data["error"]["type"] == "api_error"
    assert "message_stop" not in [n for n, _ in events]
    fake.script(Die(after_chunks=1))
    stream = rig.client().messages.stream(model="fake/m", max_tokens=9, messages=USER_HI)
    with pytest.raises(anthropic.APIStatusError), stream as events_in:
        events_in.get_final_message()


def test_the_unix_socket_serves_messages_without_a_token(rig: Rig, fake: FakeOpenAI):
    http = httpx2.Client(transport=httpx2.HTTPTransport(uds=str(rig.server.socket_path)))
    client = anthropic.Anthropic(base_url="http://localhost", api_key="unused", max_retries=0,
                                 http_client=http)  # fmt: skip
    message = client.messages.create(model="fake/m", max_tokens=5, messages=USER_HI)
    assert message.content[0].text == "echo: hi"  # type: ignore[union-attr]
