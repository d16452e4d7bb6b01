"""The fake OpenAI backend, checked with the real ``openai`` SDK over real sockets.

If these pass, a test that drives woollama against the fake is exercising the same
wire behaviour (SSE framing, fragmented tool calls, error bodies, dropped
connections) that a real OpenAI-compatible backend produces.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import httpx2
import openai
import pytest

from .openai_backend import (
    Chunks,
    Die,
    Error,
    FakeOpenAI,
    Raw,
    Slow,
    Text,
    ToolCalls,
)

USER = [{"role": "user", "content": "what time is it"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    # No retries: each request must map to exactly one scripted reply.
    with openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as sdk:
        yield sdk


def test_models_endpoint_lists_the_mutable_models_attribute(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.models.append("other-model")
    listed = client.models.list()
    assert [m.id for m in listed.data] == ["fake-model", "other-model"]
    assert all(m.object == "model" and m.owned_by for m in listed.data)


def test_unscripted_chat_echoes_last_user_message_with_openai_envelope(
    client: openai.OpenAI,
) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    done = client.chat.completions.create(model="some/model", messages=messages)
    assert done.id.startswith("chatcmpl-")
    assert done.object == "chat.completion"
    assert done.model == "some/model"
    assert done.choices[0].message.content == "echo: second question"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens > 0


def test_requests_are_recorded_with_lowercased_headers_and_parsed_body(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="m", messages=USER, extra_headers={"X-Trace-Id": "abc"})
    [seen] = fake.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == "Bearer x"
    assert seen.headers["x-trace-id"] == "abc"
    assert seen.body == {"model": "m", "messages": USER}
    assert json.loads(seen.raw) == seen.body


def test_scripted_text_streams_in_pieces_with_role_first_and_usage_last(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(
        Text(
            "the time is noon",
            usage={"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
        )
    )
    chunks = list(
        client.chat.completions.create(
            model="m", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks if c.choices]
    assert sum(1 for piece in content if piece) > 1, "content must arrive in several chunks"
    assert "".join(p or "" for p in content) == "the time is noon"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 11
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_stream_without_include_usage_sends_no_usage_chunk_and_ends_with_done(
    fake: FakeOpenAI,
) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    with (
        httpx2.Client() as http,
        http.stream("POST", f"{fake.base_url}/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(p["object"] == "chat.completion.chunk" and "usage" not in p for p in payloads)
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"


def test_streamed_tool_calls_are_fragmented_and_interleaved_by_index(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    calls = [("get_time", '{"zone": "Europe/Paris"}'), ("get_weather", '{"city": "Paris"}')]
    fake.script(ToolCalls(calls))
    deltas = [
        call
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True)
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
    ]
    headers = [d for d in deltas if d.id is not None]
    assert [(h.index, h.type, h.function.name, h.function.arguments) for h in headers] == [
        (0, "function", "get_time", ""),
        (1, "function", "get_weather", ""),
    ]
    assert all(h.id.startswith("call_") for h in headers)
    fragments = [d for d in deltas if d.id is None]
    assert all(d.function.name is None and d.function.arguments for d in fragments)
    indexes = [d.index for d in fragments]
    assert indexes != sorted(indexes), "fragments of different calls must interleave"
    for index, (_, arguments) in enumerate(calls):
        assert "".join(d.function.arguments for d in fragments if d.index == index) == arguments


def test_sdk_stream_helper_reassembles_fragmented_tool_calls(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    calls = [("get_time", '{"zone": "Europe/Paris"}'), ("lookup", '{"q": "a \\"quoted\\" b"}')]
    fake.script(ToolCalls(calls, content="Let me check."))
    with client.chat.completions.stream(model="m", messages=USER) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    got = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    assert got == calls


def test_non_streamed_tool_calls_have_ids_and_function_type(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(ToolCalls([("get_time", "{}")]))
    choice = client.chat.completions.create(model="m", messages=USER).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_time", "{}")


@pytest.mark.parametrize("stream", [False, True])
def test_scripted_error_raises_the_matching_sdk_exception(
    fake: FakeOpenAI, client: openai.OpenAI, stream: bool
) -> None:
    fake.script(Error(400, "messages must not be empty", param="messages", code="bad_messages"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=USER, stream=stream)
    assert caught.value.status_code == 400
    assert "messages must not be empty" in caught.value.message
    assert caught.value.code == "bad_messages"
    assert caught.value.body == {
        "message": "messages must not be empty",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "bad_messages",
    }


def test_replies_are_consumed_in_order_then_echo_resumes(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Text("one"), Error(429, "slow down", type="rate_limit_error"), Text("two"))
    assert (
        client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "one"
    )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=USER)
    assert (
        client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "two"
    )
    assert fake.pending_replies == 0
    echoed = client.chat.completions.create(model="m", messages=USER)
    assert echoed.choices[0].message.content == "echo: what time is it"


def test_die_mid_stream_makes_the_sdk_raise_after_the_sent_chunks(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Die(after_chunks=2))
    received: list[str] = []
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["", "tok", "tok"]  # the role chunk, then two content chunks


def test_die_without_stream_closes_the_connection_without_a_response(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Die())
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)
    assert fake.disconnects == 0, "a connection the fake drops is not a client disconnect"


def test_client_closing_a_stream_midway_is_noticed_as_a_disconnect(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Chunks(1000, delay=0.05))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    first = [next(stream), next(stream)]
    assert first[1].choices[0].delta.content == "tok"
    assert fake.disconnects == 0
    stream.close()
    assert fake.wait_disconnect(timeout=5)
    assert fake.disconnects == 1


def test_completed_requests_are_not_counted_as_disconnects(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Chunks(3, delay=0.01))
    assert len(list(client.chat.completions.create(model="m", messages=USER, stream=True))) == 5
    client.chat.completions.create(model="m", messages=USER)
    assert not fake.wait_disconnect(timeout=0.2)


def test_chunks_without_stream_returns_the_concatenated_text(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Chunks(3, text="ab"))
    done = client.chat.completions.create(model="m", messages=USER)
    assert done.choices[0].message.content == "ababab"


def test_slow_reply_lets_the_client_time_out_and_the_fake_notices(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Slow(30, then=Text("too late")))
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=USER, timeout=0.3)
    assert fake.wait_disconnect(timeout=5)


def test_slow_reply_answers_with_its_follow_up_reply(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Slow(0.05, then=Text("eventually")))
    done = client.chat.completions.create(model="m", messages=USER)
    assert done.choices[0].message.content == "eventually"


def test_stop_does_not_wait_for_an_in_flight_slow_reply() -> None:
    fake = FakeOpenAI().start()
    fake.script(Slow(600))
    outcome: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as sdk:
            try:
                sdk.chat.completions.create(model="m", messages=USER)
            except openai.OpenAIError as exc:
                outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert fake.wait_requests(1)
    fake.stop(timeout=5)  # pytest-timeout would catch a hang; 600s would be one
    caller.join(timeout=10)
    assert not caller.is_alive()
    [error] = outcome
    # The slow reply had not started, so the fake could still answer properly.
    assert isinstance(error, openai.InternalServerError) and error.status_code == 503


def test_base_url_is_known_before_start_and_serves_after() -> None:
    fake = FakeOpenAI(models=["a", "b"])
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"
    with fake, openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as sdk:
        assert [m.id for m in sdk.models.list()] == ["a", "b"]
    with pytest.raises(RuntimeError, match="single use"):
        fake.start()


def test_raw_reply_is_sent_verbatim(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Raw(502, b"<html>bad gateway</html>", "text/html"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == 502
    assert caught.value.response.text == "<html>bad gateway</html>"
    assert caught.value.response.headers["content-type"] == "text/html"


def test_required_api_key_rejects_other_keys_with_openai_401() -> None:
    with FakeOpenAI(require_api_key="sk-right") as fake:
        wrong = openai.OpenAI(base_url=fake.base_url, api_key="sk-wrong", max_retries=0)
        with wrong, pytest.raises(openai.AuthenticationError) as caught:
            wrong.models.list()
        assert caught.value.code == "invalid_api_key"
        assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
        with openai.OpenAI(base_url=fake.base_url, api_key="sk-right", max_retries=0) as right:
            assert [m.id for m in right.models.list()] == ["fake-model"]
        assert [r.headers["authorization"] for r in fake.requests] == [
            "Bearer sk-wrong",
            "Bearer sk-right",
        ]


def test_embeddings_are_deterministic_for_string_and_list_input(
    client: openai.OpenAI,
) -> None:
    # The SDK asks for base64 by default and decodes it; "float" is the plain JSON path.
    single = client.embeddings.create(model="e", input="hello")
    many = client.embeddings.create(model="e", input=["hello", "world"], encoding_format="float")
    assert [d.index for d in many.data] == [0, 1]
    assert single.data[0].embedding == many.data[0].embedding
    assert many.data[0].embedding != many.data[1].embedding
    assert abs(sum(v * v for v in many.data[1].embedding) - 1.0) < 1e-5
    assert many.model == "e" and many.usage.prompt_tokens == 2


def test_embeddings_honour_dimensions(client: openai.OpenAI) -> None:
    done = client.embeddings.create(model="e", input="hello", dimensions=32)
    assert len(done.data[0].embedding) == 32


def test_images_come_back_as_b64_json_or_a_fetchable_url(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    png = b"\x89PNG\r\n\x1a\n"
    inline = client.images.generate(model="img", prompt="a cat", n=2)
    assert len(inline.data or []) == 2
    assert base64.b64decode((inline.data or [])[0].b64_json or "").startswith(png)
    linked = client.images.generate(model="img", prompt="a cat", response_format="url")
    url = (linked.data or [])[0].url
    assert url is not None and httpx2.get(url).content.startswith(png)


def test_chat_reply_scripted_for_another_endpoint_is_reported_as_a_test_bug(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.script(Text("not an embedding"))
    with pytest.raises(openai.InternalServerError, match="cannot answer /v1/embeddings"):
        client.embeddings.create(model="e", input="x")


def test_unknown_route_and_bad_json_get_openai_error_bodies(fake: FakeOpenAI) -> None:
    missing = httpx2.post(f"{fake.base_url}/nope", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/nope)"
    garbage = httpx2.post(f"{fake.base_url}/chat/completions", content=b"{not json")
    assert garbage.status_code == 400
    assert garbage.json()["error"]["type"] == "invalid_request_error"
    assert fake.requests[-1].body is None and fake.requests[-1].raw == b"{not json"


async def test_async_client_streams_from_a_running_event_loop(fake: FakeOpenAI) -> None:
    fake.script(Text("from another loop"))
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(model="m", messages=USER, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "from another loop"
