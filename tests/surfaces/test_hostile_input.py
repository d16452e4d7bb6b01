"""Bodies Python's json takes but nothing after it can use are a 400 at the door, not a 500.

Python's json accepts NaN, Infinity, numbers that overflow to infinity and lone UTF-16
surrogates, and raises a bare ValueError past 4,300 digits; each of these used to
fail later (in a response, an upstream request, the state database) as a 500.
Sent with httpx2, since the openai SDK refuses to encode most of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, reset, router_with_fake

EXAMPLES = Path(__file__).parents[2] / "examples"
RECIPES = '[recipes.helper]\ninferencer = "fake/fake-model"\ndescription = "helps"\n'
MiB = 1024 * 1024


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI
    conv_id: str


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("hostile")
    store = {
        "mcpServers": {"threads": {"command": sys.executable,
                                   "args": [str(EXAMPLES / "store_mcp.py"), str(root / "t")]}},
        "conversationStore": "threads",
    }  # fmt: skip
    with router_with_fake(root, recipes=RECIPES, mcp=store) as (server, fake):
        conv = server.http().post("/v1/conversations", json={"model": "fake/fake-model"}).json()
        yield Rig(server, fake, conv["id"])


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


def post(rig: Rig, path: str, raw: bytes) -> httpx2.Response:
    with rig.server.http() as http:
        return http.post(
            path.format(conv=rig.conv_id), content=raw, headers={"content-type": "application/json"}
        )


def assert_openai_error(response: httpx2.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    assert fragment in error["message"], error["message"]


def chat_with(field: bytes, value: bytes, model: bytes = b"fake/fake-model") -> bytes:
    return (b'{"model": "' + model + b'", "messages": [{"role": "user", "content": "hi"}], "'
            + field + b'": ' + value + b"}")  # fmt: skip


JSON_ROUTES = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/responses",
    "/v1/conversations",
    "/v1/conversations/{conv}",
]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_an_integer_past_the_digit_limit_is_a_400_on_every_json_route(rig: Rig, path: str):
    body = b'{"model": "fake/fake-model", "metadata": {"n": ' + b"7" * 4301 + b"}}"
    assert_openai_error(post(rig, path, body), 400, "more than 4300 digits")


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-2E+400"])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/chat/completions", chat_with(b"temperature", b"%s")),
        ("/v1/responses", b'{"model": "fake/fake-model", "input": "hi", "temperature": %s}'),
        ("/v1/conversations", b'{"model": "fake/fake-model", "metadata": {"a": %s}}'),
        ("/v1/conversations/{conv}", b'{"metadata": {"a": [1, %s]}}'),
    ],
)
def test_non_finite_numbers_are_a_400_before_any_backend_is_asked(
    rig: Rig, fake: FakeOpenAI, path: str, template: bytes, token: bytes
):
    assert_openai_error(post(rig, path, template % token), 400, "request body is not valid JSON")
    assert fake.requests == []


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\uDFFF", b"x\\ud83d", b"\\udc00\\ud800"])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/responses", b'{"model": "fake/fake-model", "input": "hi", "instructions": "%s"}'),
        ("/v1/conversations", b'{"model": "fake/fake-model", "metadata": {"a": "%s"}}'),
        ("/v1/conversations", b'{"model": "fake/fake-model", "title": "%s"}'),
        ("/v1/conversations/{conv}", b'{"metadata": {"%s": "key, not value"}}'),
        ("/v1/chat/completions", b'{"model": "fake/fake-model", "messages": '
                                 b'[{"role": "user", "content": "%s"}]}'),
    ],
)  # fmt: skip
def test_lone_surrogate_escapes_are_a_400(rig: Rig, path: str, template: bytes, escape: bytes):
    assert_openai_error(post(rig, path, template % escape), 400, "lone UTF-16 surrogate")


def test_a_surrogate_encoded_as_utf8_bytes_is_a_400(rig: Rig):
    body = b'{"model": "fake/fake-model", "input": "hi", "instructions": "\xed\xa0\x80"}'
    assert_openai_error(post(rig, "/v1/responses", body), 400, "not UTF-8")


def test_real_surrogate_pairs_and_escaped_backslashes_go_through(rig: Rig, fake: FakeOpenAI):
    # Neither is a lone surrogate: the first is one character, the second is text.
    content = b"\\ud83d\\ude00 and \\\\ud800"
    response = post(rig, "/v1/chat/completions", chat_with(b"user", b'"' + content + b'"'))
    assert response.status_code == 200, response.text
    assert fake.requests[-1].body["user"] == "\U0001f600 and \\ud800"


@pytest.mark.parametrize("depth", [129, 1000, 5000])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/chat/completions", b"tools"),
        ("/v1/responses", b"text"),
        ("/v1/conversations", b"metadata"),
        ("/v1/conversations/{conv}", b"metadata"),
    ],
)
def test_nesting_past_the_limit_is_a_400(rig: Rig, path: str, field: bytes, depth: int):
    nested = b'{"a": ' * depth + b"1" + b"}" * depth
    body = b'{"model": "fake/fake-model", "input": "hi", "' + field + b'": ' + nested + b"}"
    assert_openai_error(post(rig, path, body), 400, "nested too deeply (more than 128 levels)")


def test_nesting_within_the_limit_goes_through(rig: Rig, fake: FakeOpenAI):
    nested = b"[" * 120 + b"]" * 120
    response = post(rig, "/v1/chat/completions", chat_with(b"x", nested))
    assert response.status_code == 200, response.text
    assert fake.requests[-1].body["x"] == json.loads(nested)


@pytest.mark.parametrize("stream", [b"false", b"true"])
@pytest.mark.parametrize(
    "messages",
    [b'"hi"', b'{"role": "user", "content": "hi"}', b"5", b"true", b"[1]", b'["hi"]', b"[]",
     b'[{"content": "no role"}]'],
)  # fmt: skip
def test_recipe_messages_of_the_wrong_type_are_a_400(
    rig: Rig, fake: FakeOpenAI, messages: bytes, stream: bytes
):
    body = b'{"model": "woollama/helper", "stream": ' + stream + b', "messages": ' + messages + b"}"
    response = post(rig, "/v1/chat/completions", body)
    assert_openai_error(response, 400, "messages")
    assert response.json()["error"]["param"].startswith("messages")
    assert fake.requests == []  # refused before the recipe asked its model


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "woollama/helper", "input": 5}',
        b'{"model": "woollama/helper", "input": {"role": "user"}}',
        b'{"model": "woollama/helper", "input": [1]}',
        b'{"model": "woollama/helper", "input": "hi", "instructions": ["not", "text"]}',
    ],
)
def test_recipe_input_of_the_wrong_type_is_a_400_on_responses(rig: Rig, body: bytes):
    response = post(rig, "/v1/responses", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] in ("input", "input[0]", "instructions")


@pytest.mark.parametrize("model", ["/m1", "m1/", "/", "m1"])
def test_creating_a_conversation_for_a_model_without_a_provider_is_a_400(rig: Rig, model: str):
    with rig.server.http() as http:
        response = http.post("/v1/conversations", json={"model": model})
    assert_openai_error(response, 400, "has no provider")
    assert response.json()["error"]["param"] == "model"


def chunked(total: int, prefix: bytes, suffix: bytes) -> Iterator[bytes]:
    """`total` bytes of JSON in 1 MiB chunks; a generator body is sent chunked."""
    yield prefix
    filler = total - len(prefix) - len(suffix)
    while filler > 0:
        size = min(MiB, filler)
        yield b"a" * size
        filler -= size
    yield suffix


CHUNKED_PREFIX = b'{"model": "fake/fake-model", "messages": [{"role": "user", "content": "'
CHUNKED_SUFFIX = b'"}]}'


@pytest.mark.parametrize(
    "path", ["/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/conversations"]
)
def test_a_chunked_body_past_64_mib_is_a_413(rig: Rig, fake: FakeOpenAI, path: str):
    body = chunked(70 * MiB, CHUNKED_PREFIX, CHUNKED_SUFFIX)
    with rig.server.http() as http:
        response = http.post(path, content=body, headers={"content-type": "application/json"})
        assert "content-length" not in response.request.headers  # it really went chunked
        assert_openai_error(response, 413, "larger than 64 MiB")
        assert response.json()["error"]["code"] == "request_too_large"
        # The rest of the upload was read and dropped; the connection still serves.
        assert http.get("/v1/models").status_code == 200
    assert fake.requests == []


def test_a_declared_length_past_64_mib_is_a_413(rig: Rig, fake: FakeOpenAI):
    body = chat_with(b"user", b'"' + b"a" * (65 * MiB) + b'"')
    assert_openai_error(post(rig, "/v1/chat/completions", body), 413, "larger than 64 MiB")
    assert fake.requests == []


def test_a_chunked_body_under_the_limit_goes_through(rig: Rig, fake: FakeOpenAI):
    body = chunked(3 * MiB, CHUNKED_PREFIX, CHUNKED_SUFFIX)
    with rig.server.http() as http:
        response = http.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200, response.text[:300]
    sent = fake.requests[-1].body["messages"][0]["content"]
    assert len(sent) == 3 * MiB - len(CHUNKED_PREFIX) - len(CHUNKED_SUFFIX)


@pytest.mark.parametrize("options", [b"[]", b"true", b"1"])
def test_recipe_stream_options_of_the_wrong_type_are_a_400(rig: Rig, options: bytes):
    body = (
        b'{"model": "woollama/helper", "stream": true, "stream_options": '
        + options
        + b', "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert_openai_error(post(rig, "/v1/chat/completions", body), 400, "stream_options")


def test_assistant_tool_calls_of_the_wrong_type_are_a_400_for_claude_code(rig: Rig):
    body = (
        b'{"model": "claude-code/haiku", "messages": [{"role": "assistant", "content": "",'
        b' "tool_calls": 1}, {"role": "user", "content": "hi"}]}'
    )
    assert_openai_error(post(rig, "/v1/chat/completions", body), 400, "tool_calls")
