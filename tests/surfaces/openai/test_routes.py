"""The OpenAI HTTP surface as a client meets it: the real SDK against a real woollama."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from tests.fakes.openai_backend import Chunks, Die, Error, FakeOpenAI, Raw, Slow, Text, ToolCalls
from tests.surfaces.conftest import Router

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "current time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    }
]


def test_models_lists_static_discovered_filtered_and_recipes(router: Router, fake: FakeOpenAI):
    ids = {m.id for m in router.server.client().models.list()}
    assert {"fake/static-model", "fake/fake-model", "fake/other-model"} <= ids
    assert "picky/other-model" in ids
    assert "picky/fake-model" not in ids  # filtered by model_patterns
    assert "woollama/helper" in ids
    assert not any(i.startswith("down/") for i in ids)  # down, skipped, not an error


def test_models_retrieve_finds_provider_models_and_recipes(router: Router, fake: FakeOpenAI):
    client = router.server.client()
    assert client.models.retrieve("fake/static-model").owned_by == "fake"
    assert client.models.retrieve("woollama/helper").owned_by == "woollama"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("fake/nope")


def test_chat_passes_body_through_with_bare_model(router: Router, fake: FakeOpenAI):
    fake.script(Text("hello there"))
    reply = router.server.client().chat.completions.create(
        model="fake/fake-model",
        messages=[{"role": "user", "content": "hi"}],
        tools=TOOLS,
        tool_choice="auto",
        temperature=0.3,
        response_format={"type": "text"},
        extra_body={"custom_field": {"nested": [1, 2]}},
    )
    assert reply.choices[0].message.content == "hello there"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "fake-model"
    assert sent.body["tools"] == TOOLS
    assert sent.body["tool_choice"] == "auto"
    assert sent.body["temperature"] == 0.3
    assert sent.body["custom_field"] == {"nested": [1, 2]}


def test_model_id_may_contain_slashes_after_the_provider(router: Router, fake: FakeOpenAI):
    router.server.client().chat.completions.create(
        model="fake/org/model:tag", messages=[{"role": "user", "content": "x"}]
    )
    assert fake.requests[-1].body["model"] == "org/model:tag"


def test_tool_calls_come_back_to_the_client(router: Router, fake: FakeOpenAI):
    fake.script(ToolCalls([("get_time", '{"tz": "UTC"}')]))
    reply = router.server.client().chat.completions.create(
        model="fake/fake-model", messages=[{"role": "user", "content": "time?"}], tools=TOOLS
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"tz": "UTC"}
    assert reply.choices[0].finish_reason == "tool_calls"


def test_stream_relays_every_chunk_and_usage(router: Router, fake: FakeOpenAI):
    fake.script(Text("one two three four"))
    stream = router.server.client().chat.completions.create(
        model="fake/fake-model",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}


def test_streamed_fragmented_tool_calls_reassemble(router: Router, fake: FakeOpenAI):
    fake.script(ToolCalls([("get_time", '{"tz": "Europe/Paris"}'), ("get_time", '{"tz": "UTC"}')]))
    stream = router.server.client().chat.completions.create(
        model="fake/fake-model",
        messages=[{"role": "user", "content": "t"}],
        tools=TOOLS,
        stream=True,
    )
    args: dict[int, str] = {}
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    assert [json.loads(args[i]) for i in sorted(args)] == [{"tz": "Europe/Paris"}, {"tz": "UTC"}]


def test_stream_is_forwarded_as_it_arrives_and_disconnect_closes_upstream(
    router: Router, fake: FakeOpenAI
):
    # The second chunk would come a minute later: seeing the first one proves
    # nothing is buffered, and closing early must reach the backend.
    fake.script(Chunks(3, delay=60.0, text="first"))
    client = router.server.client(timeout=20.0)
    with client.chat.completions.create(
        model="fake/fake-model", messages=[{"role": "user", "content": "x"}], stream=True
    ) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                assert chunk.choices[0].delta.content == "first"
                break
    assert fake.wait_disconnect(timeout=10.0)


def test_backend_dying_mid_stream_ends_with_an_error_event(router: Router, fake: FakeOpenAI):
    fake.script(Die(after_chunks=2))
    stream = router.server.client().chat.completions.create(
        model="fake/fake-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert len(received) >= 2
    assert "fake" in str(info.value.message)


def test_embeddings_and_images_pass_through(router: Router, fake: FakeOpenAI):
    client = router.server.client()
    emb = client.embeddings.create(model="fake/embed-model", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    assert fake.requests[-1].path == "/v1/embeddings"
    assert fake.requests[-1].body["model"] == "embed-model"
    image = client.images.generate(model="fake/img", prompt="a cat", response_format="b64_json")
    assert image.data[0].b64_json
    assert fake.requests[-1].path == "/v1/images/generations"
    assert fake.requests[-1].body["prompt"] == "a cat"


def test_provider_key_is_sent_upstream_as_bearer(router: Router, fake: FakeOpenAI):
    router.server.client().chat.completions.create(
        model="keyed/m", messages=[{"role": "user", "content": "x"}]
    )
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-fake-123"


def test_missing_provider_key_is_a_400_naming_the_variable(router: Router, fake: FakeOpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        router.server.client().chat.completions.create(
            model="keyless/m", messages=[{"role": "user", "content": "x"}]
        )
    assert "UNSET_PROVIDER_KEY" in info.value.message
    assert fake.requests == []


def test_provider_keys_never_reach_the_log(router: Router, fake: FakeOpenAI):
    router.server.client().chat.completions.create(
        model="keyed/m", messages=[{"role": "user", "content": "x"}]
    )
    assert "sk-fake-123" not in router.server.log()


@pytest.mark.parametrize(
    ("model", "status", "fragment"),
    [
        ("nope/m", 400, "unknown provider 'nope'"),
        ("noslash", 400, "<provider>/<model>"),
        ("woollama/missing", 404, "unknown recipe"),
    ],
)
def test_bad_model_names_get_clear_errors(
    router: Router, fake: FakeOpenAI, model, status, fragment
):
    with pytest.raises(openai.APIStatusError) as info:
        router.server.client().chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == status
    assert fragment in info.value.message


def test_unreachable_backend_is_a_502(router: Router, fake: FakeOpenAI):
    with pytest.raises(openai.APIStatusError) as info:
        router.server.client().chat.completions.create(
            model="down/m", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 502
    assert "unreachable" in info.value.message


def test_slow_backend_is_a_504(router: Router, fake: FakeOpenAI):
    fake.script(Slow(30.0))
    with pytest.raises(openai.APIStatusError) as info:
        router.server.client().chat.completions.create(
            model="hasty/m", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 504


def test_backend_closing_without_answer_is_a_502(router: Router, fake: FakeOpenAI):
    fake.script(Die())
    with pytest.raises(openai.APIStatusError) as info:
        router.server.client().chat.completions.create(
            model="fake/m", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 502


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_json_errors_are_relayed_with_their_status(
    router: Router, fake: FakeOpenAI, stream: bool
):
    fake.script(Error(429, "slow down please", type="rate_limit_error", code="rate_limited"))
    with pytest.raises(openai.RateLimitError) as info:
        router.server.client().chat.completions.create(
            model="fake/m", messages=[{"role": "user", "content": "x"}], stream=stream
        )
    assert info.value.message.endswith("slow down please")
    assert info.value.code == "rate_limited"


def test_upstream_non_json_error_is_wrapped_in_openai_shape(router: Router, fake: FakeOpenAI):
    fake.script(Raw(503, b"<html>Service Unavailable</html>", "text/html"))
    response = router.server.http().post(
        "/v1/chat/completions", json={"model": "fake/m", "messages": []}
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert "Service Unavailable" in error["message"] and "fake" in error["message"]


def test_upstream_success_that_is_not_json_is_a_502(router: Router, fake: FakeOpenAI):
    fake.script(Raw(200, b"not json at all", "text/plain"))
    response = router.server.http().post(
        "/v1/chat/completions", json={"model": "fake/m", "messages": []}
    )
    assert response.status_code == 502
    assert "JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"null", "JSON object"),
        (b'"model"', "JSON object"),
        (b"{}", "`model` is required"),
        (b'{"model": 5}', "`model` is required"),
        (b'{"model": null}', "`model` is required"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
@pytest.mark.parametrize(
    "route", ["/v1/chat/completions", "/v1/embeddings", "/v1/images/generations"]
)
def test_malformed_bodies_are_400_in_openai_shape(
    router: Router, fake: FakeOpenAI, route: str, body: bytes, fragment: str
):
    response = router.server.http().post(
        route, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert fragment in error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/chat/completions", 405),
        ("POST", "/v1/models", 405),
        ("GET", "/v1/nothing", 404),
        ("DELETE", "/", 405),  # / is the status page, GET only
        ("DELETE", "/nowhere", 404),
        ("PUT", "/v1/embeddings", 405),
    ],
)
def test_unknown_routes_and_methods_answer_in_openai_shape(
    router: Router, fake: FakeOpenAI, method: str, path: str, status: int
):
    response = router.server.http().request(method, path, content=b"\x00garbage")
    assert response.status_code == status
    assert "message" in response.json()["error"]


def test_unix_socket_serves_chat(router: Router, fake: FakeOpenAI):
    reply = router.server.unix_client().chat.completions.create(
        model="fake/fake-model", messages=[{"role": "user", "content": "over the socket"}]
    )
    assert reply.choices[0].message.content == "echo: over the socket"


def test_concurrent_streams_do_not_mix(router: Router, fake: FakeOpenAI):
    import concurrent.futures

    def ask(i: int) -> str:
        stream = router.server.client().chat.completions.create(
            model="fake/m", messages=[{"role": "user", "content": f"n{i}"}], stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(16)))
    assert answers == [f"echo: n{i}" for i in range(16)]


def test_large_request_body_passes_through(router: Router, fake: FakeOpenAI):
    big = "x" * 2_000_000
    router.server.client().chat.completions.create(
        model="fake/m", messages=[{"role": "user", "content": big}]
    )
    assert fake.requests[-1].body["messages"][0]["content"] == big


def test_http_client_gets_json_content_type(router: Router, fake: FakeOpenAI):
    response = httpx2.get(f"http://{router.server.address}/v1/models")
    assert response.headers["content-type"].startswith("application/json")
