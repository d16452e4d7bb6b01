"""`/v1/responses` with Ollama `options` goes to the native `/api/chat`, as chat completions do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.fakes.ollama_backend import FakeOllama, Text
from tests.harness import Woollama, start, write_config

MODEL = "qwen3:0.6b"
OPTIONS = {"num_ctx": 8192}


@dataclass
class Rig:
    server: Woollama
    fake: FakeOllama

    @property
    def client(self) -> openai.OpenAI:
        return self.server.client()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root: Path = tmp_path_factory.mktemp("ollama-responses")
    with FakeOllama(models=[MODEL]) as fake:
        write_config(root / "config", inferencers='[inferencers.ollama]\nkind = "ollama"\n')
        server = start(root, {"WOOLLAMA_OLLAMA_URL": fake.url})
        try:
            yield Rig(server, fake)
        finally:
            server.stop()


@pytest.fixture
def ollama(rig: Rig) -> Rig:
    rig.fake.reset()
    rig.fake.requests.clear()
    return rig


def test_options_send_a_response_to_api_chat_with_num_ctx_and_sampling_folded_in(
    ollama: Rig,
) -> None:
    answer = ollama.client.responses.create(
        model=f"ollama/{MODEL}",
        input="hello",
        temperature=0.2,
        max_output_tokens=64,
        extra_body={"options": OPTIONS},
    )
    assert answer.output_text == "echo: hello"
    assert answer.usage is not None and answer.usage.input_tokens == 1
    (request,) = ollama.fake.requests
    assert request.path == "/api/chat"
    assert request.body["model"] == MODEL and request.body["stream"] is False
    assert request.body["options"] == {"num_ctx": 8192, "temperature": 0.2, "num_predict": 64}


def test_streamed_response_with_options_is_served_by_api_chat(ollama: Rig) -> None:
    ollama.fake.script(Text("streamed from the native API"))
    events = list(
        ollama.client.responses.create(
            model=f"ollama/{MODEL}", input="hello", stream=True, extra_body={"options": OPTIONS}
        )
    )
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "streamed from the native API"
    (request,) = ollama.fake.requests
    assert request.path == "/api/chat"
    assert request.body["stream"] is True and request.body["options"] == OPTIONS


def test_response_without_options_stays_on_ollamas_openai_layer(ollama: Rig) -> None:
    answer = ollama.client.responses.create(model=f"ollama/{MODEL}", input="hello")
    assert answer.output_text == "echo: hello"
    (request,) = ollama.fake.requests
    assert request.path == "/v1/chat/completions" and "options" not in request.body


def test_options_that_are_not_an_object_are_a_400_naming_the_field(ollama: Rig) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ollama.client.responses.create(
            model=f"ollama/{MODEL}", input="hello", extra_body={"options": [8192]}
        )
    assert info.value.param == "options"
    assert ollama.fake.requests == []
