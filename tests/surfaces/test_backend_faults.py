"""Backend faults reach the client faithfully: a rate limit with its back-off headers,
a body labelled JSON that is not, and a client that gives up cancelling the backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.fakes.openai_backend import Error, FakeOpenAI, Raw, Slow
from tests.harness import Woollama, reset, router_with_fake

RATE_LIMITED = {
    "retry-after": "7",
    "retry-after-ms": "7000",
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "7s",
}
# What a backend sends that is its own business and must stay behind the router.
PRIVATE = {"set-cookie": "backend-session=secret", "x-backend-shard": "eu-3"}
USER = [{"role": "user", "content": "x"}]
RECIPES = '[recipes.plain]\ninferencer = "fake/m"\n'


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI

    def client(self, **kwargs: Any) -> openai.OpenAI:
        return self.server.client(max_retries=0, **kwargs)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with router_with_fake(tmp_path_factory.mktemp("faults"), recipes=RECIPES) as (server, fake):
        yield Rig(server, fake)


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


def _chat(client: openai.OpenAI, stream: bool = False) -> Any:
    answer = client.chat.completions.create(model="fake/m", messages=USER, stream=stream)
    return list(answer) if stream else answer


def _embed(client: openai.OpenAI) -> Any:
    return client.embeddings.create(model="fake/m", input="x")


def _image(client: openai.OpenAI) -> Any:
    return client.images.generate(model="fake/m", prompt="x")


def _respond(client: openai.OpenAI, stream: bool = False) -> Any:
    answer = client.responses.create(model="fake/m", input="x", stream=stream)
    return list(answer) if stream else answer


CALLS: dict[str, Callable[[openai.OpenAI], Any]] = {
    "chat": _chat,
    "chat-stream": lambda c: _chat(c, stream=True),
    "embeddings": _embed,
    "images": _image,
    "responses": _respond,
    "responses-stream": lambda c: _respond(c, stream=True),
}

# -- rate limits keep their back-off headers ------------------------------------------


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_rate_limit_reaches_the_sdk_with_the_backends_retry_after_and_limits(
    rig: Rig, fake: FakeOpenAI, call: Callable[[openai.OpenAI], Any]
):
    fake.script(Error(429, "slow down", "rate_limit_error", headers={**RATE_LIMITED, **PRIVATE}))
    with pytest.raises(openai.RateLimitError) as info:
        call(rig.client())
    headers = info.value.response.headers
    assert {name: headers.get(name) for name in RATE_LIMITED} == RATE_LIMITED
    assert not set(PRIVATE) & set(headers)
    assert info.value.message.endswith("slow down")


@pytest.mark.parametrize("call", [_chat, _embed, _respond], ids=["chat", "embeddings", "responses"])
def test_overloaded_backend_503_keeps_its_retry_after(
    rig: Rig, fake: FakeOpenAI, call: Callable[[openai.OpenAI], Any]
):
    fake.script(Error(503, "overloaded", "server_error", headers={"Retry-After": "30"}))
    with pytest.raises(openai.InternalServerError) as info:
        call(rig.client())
    assert info.value.status_code == 503
    assert info.value.response.headers["retry-after"] == "30"


# -- a body labelled JSON must be JSON -------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [',  # cut off
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"id": "chatcmpl-1"} trailing',
        b'{"content": "\xff\xfe not UTF-8"}',
        b"",
    ],
    ids=["truncated", "html", "trailing-garbage", "not-utf8", "empty"],
)
@pytest.mark.parametrize("call", [_chat, _embed, _image], ids=["chat", "embeddings", "images"])
def test_body_labelled_json_that_is_not_json_is_a_502_naming_the_provider(
    rig: Rig, fake: FakeOpenAI, call: Callable[[openai.OpenAI], Any], body: bytes
):
    fake.script(Raw(200, body, "application/json"))
    with pytest.raises(openai.APIStatusError) as info:
        call(rig.client())
    assert info.value.status_code == 502
    error = info.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "'fake'" in error["message"] and "not JSON" in error["message"]


def test_json_that_python_clients_read_is_still_relayed_byte_for_byte(rig: Rig, fake: FakeOpenAI):
    # Not RFC 8259 (NaN, a number past a double), but what some backends write in
    # logprobs and what Python's json, and so the openai SDK, reads.
    body = b'{"object": "list", "data": [], "model": "m", "score": NaN, "big": 1e999}'
    fake.script(Raw(200, body, "application/json; charset=utf-8"))
    response = rig.server.http().post("/v1/embeddings", json={"model": "fake/m", "input": "x"})
    assert response.status_code == 200
    assert response.content == body


# -- a client that gives up cancels the backend request -------------------------------


GIVING_UP: dict[str, Callable[[openai.OpenAI], Any]] = {
    "chat": _chat,
    "chat-stream": lambda c: _chat(c, stream=True),  # gives up before the first byte
    "embeddings": _embed,
    "images": _image,
}


@pytest.mark.parametrize("call", GIVING_UP.values(), ids=GIVING_UP.keys())
def test_client_timing_out_cancels_the_backend_request_long_before_it_would_end(
    rig: Rig, fake: FakeOpenAI, call: Callable[[openai.OpenAI], Any]
):
    before = fake.disconnects  # counted over the fake's life, not per test
    fake.script(Slow(60.0))
    with pytest.raises(openai.APITimeoutError):
        call(rig.client(timeout=1.0))
    # The reply is a minute away: the backend seeing its client leave within seconds
    # of ours giving up can only be woollama closing the request.
    assert fake.wait_disconnect(timeout=10.0, count=before + 1), "the request was left running"
    assert len(fake.requests) == 1
    # and the router is none the worse for it
    assert _chat(rig.client()).choices[0].message.content == "echo: x"


RECIPE_CALLS: dict[str, Callable[[openai.OpenAI], Any]] = {
    "chat": lambda c: c.chat.completions.create(model="woollama/plain", messages=USER),
    "chat-stream": lambda c: list(
        c.chat.completions.create(model="woollama/plain", messages=USER, stream=True)
    ),
    "responses": lambda c: c.responses.create(model="woollama/plain", input="x"),
    "responses-stream": lambda c: list(
        c.responses.create(model="woollama/plain", input="x", stream=True)
    ),
}


@pytest.mark.parametrize("call", RECIPE_CALLS.values(), ids=RECIPE_CALLS.keys())
def test_rate_limit_in_a_recipe_keeps_the_backends_retry_after(
    rig: Rig, fake: FakeOpenAI, call: Callable[[openai.OpenAI], Any]
):
    fake.script(Error(429, "slow down", "rate_limit_error", headers={**RATE_LIMITED, **PRIVATE}))
    with pytest.raises(openai.RateLimitError) as info:
        call(rig.client())
    headers = info.value.response.headers
    assert {name: headers.get(name) for name in RATE_LIMITED} == RATE_LIMITED
    assert not set(PRIVATE) & set(headers)
