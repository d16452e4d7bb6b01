"""Native Ollama: the OpenAI <-> /api/chat translation, and the provider end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.fakes.ollama_backend import (
    Die,
    Error,
    FakeOllama,
    Stall,
    StreamError,
    Text,
    ToolCalls,
)
from tests.harness import Woollama, start, write_config
from tests.surfaces.conftest import closed_port
from woollama.errors import BadRequest
from woollama.providers.ollama.translate import (
    StreamTranslator,
    from_ollama_chat,
    merge_options,
    ollama_error,
    ollama_root,
    to_ollama_chat,
    to_ollama_messages,
    wants_native,
)
from woollama.providers.sse import SSEDecoder

PNG_B64 = "iVBORw0KGgo="
MODEL = "qwen3:0.6b"

# -- request translation -------------------------------------------------------------


def test_explicit_options_win_over_folded_openai_sampling_fields() -> None:
    body = {
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop": "END",
        "frequency_penalty": 0.1,
        "presence_penalty": 0.3,
        "max_tokens": 50,
        "options": {"temperature": 0.8, "num_ctx": 8192},
    }
    assert merge_options(body) == {
        "temperature": 0.8,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["END"],
        "frequency_penalty": 0.1,
        "presence_penalty": 0.3,
        "num_predict": 50,
        "num_ctx": 8192,
    }


def test_num_predict_prefers_max_completion_tokens_and_yields_to_options() -> None:
    assert merge_options({"max_tokens": 10, "max_completion_tokens": 20}) == {"num_predict": 20}
    body = {"max_tokens": 10, "options": {"num_predict": -1}}
    assert merge_options(body) == {"num_predict": -1}
    assert merge_options({"stop": ["a", "b"], "temperature": None}) == {"stop": ["a", "b"]}


def test_full_openai_request_becomes_the_documented_native_request() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {}}}]
    body = {
        "model": MODEL,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": tools,
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        "keep_alive": "10m",
        "think": False,
        "options": {"num_ctx": 4096},
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is"},
                    {"type": "text", "text": "this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
        ],
    }
    assert to_ollama_chat(body) == {
        "model": MODEL,
        "stream": True,
        "options": {"num_ctx": 4096},
        "tools": tools,
        "format": schema,
        "keep_alive": "10m",
        "think": False,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is\nthis?", "images": [PNG_B64]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}],
            },
            {"role": "tool", "content": "12:00", "tool_name": "get_time"},
        ],
    }


def test_response_format_maps_json_object_to_json_and_text_to_nothing() -> None:
    base = {"model": MODEL, "messages": [], "options": {}}
    assert to_ollama_chat({**base, "response_format": {"type": "json_object"}})["format"] == "json"
    assert "format" not in to_ollama_chat({**base, "response_format": {"type": "text"}})
    assert to_ollama_chat(base)["stream"] is False


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
            },
            "inline",
        ),
        (
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "not json"}}],
            },
            "JSON object",
        ),
        ({"role": "user", "content": [{"type": "input_audio"}]}, "not supported"),
    ],
)
def test_untranslatable_messages_are_bad_requests(message: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        to_ollama_messages([message])


def test_only_chat_requests_with_options_go_native() -> None:
    assert wants_native("/chat/completions", {"options": {"num_ctx": 1}})
    assert not wants_native("/chat/completions", {"temperature": 1})
    assert not wants_native("/chat/completions", {"options": "num_ctx=1"})
    assert not wants_native("/embeddings", {"options": {"num_ctx": 1}})
    assert ollama_root("http://h:11434/v1") == "http://h:11434"
    assert ollama_root("http://h/ollama") == "http://h/ollama"


# -- response translation ------------------------------------------------------------


def test_native_answer_becomes_a_chat_completion_with_reasoning_and_usage() -> None:
    answer = {
        "model": MODEL,
        "created_at": "2024-12-06T00:46:58.265747Z",
        "message": {"role": "assistant", "content": "Hi.", "thinking": "greet"},
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 26,
        "eval_count": 3,
    }
    completion = from_ollama_chat(answer, created=1700000000)
    assert completion["id"].startswith("chatcmpl-")
    del completion["id"]
    assert completion == {
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi.", "reasoning_content": "greet"},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 26, "completion_tokens": 3, "total_tokens": 29},
    }


def test_tool_calls_round_trip_through_both_translations() -> None:
    calls = [
        {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}},
        {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}},
    ]
    answer = {
        "model": MODEL,
        "message": {"role": "assistant", "content": "", "tool_calls": calls},
        "done": True,
        "done_reason": "stop",
    }
    choice = from_ollama_chat(answer, call_prefix="call_")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
        },
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        },
    ]
    history = [
        choice["message"],
        {"role": "tool", "tool_call_id": "call_1", "content": "3"},
        {"role": "tool", "tool_call_id": "call_0", "content": "12:00"},
    ]
    assert to_ollama_messages(history) == [
        {"role": "assistant", "content": "", "tool_calls": calls},
        {"role": "tool", "content": "3", "tool_name": "add"},
        {"role": "tool", "content": "12:00", "tool_name": "get_time"},
    ]


def test_call_ids_differ_between_answers_unless_ollama_names_them() -> None:
    answer = {"message": {"tool_calls": [{"function": {"name": "f", "arguments": {}}}]}}
    first = from_ollama_chat(answer)["choices"][0]["message"]["tool_calls"][0]["id"]
    second = from_ollama_chat(answer)["choices"][0]["message"]["tool_calls"][0]["id"]
    assert first != second and first.startswith("call_")
    named = {"message": {"tool_calls": [{"id": "call_ab", "function": {"name": "f"}}]}}
    assert from_ollama_chat(named)["choices"][0]["message"]["tool_calls"][0]["id"] == "call_ab"


def test_ollama_error_strings_become_openai_errors() -> None:
    assert ollama_error(404, b'{"error": "model \'x\' not found"}') == {
        "error": {
            "message": "model 'x' not found",
            "type": "not_found_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    assert ollama_error(500, b"boom")["error"]["message"] == "boom"
    assert ollama_error(502, b"")["error"]["type"] == "api_error"


# -- stream translation --------------------------------------------------------------


def _ndjson(*objs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def _events(raw: bytes) -> list[Any]:
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in SSEDecoder().feed(raw)]


def _line(done: bool = False, **message: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "model": MODEL,
        "created_at": "t",
        "done": done,
        "message": {"role": "assistant", "content": "", **message},
    }
    if done:
        line.update(done_reason="stop", prompt_eval_count=5, eval_count=3)
    return line


def test_stream_lines_split_anywhere_become_openai_chunks_in_order() -> None:
    body = _ndjson(
        _line(thinking="hm"),
        _line(content="Hel"),
        _line(content="lo"),
        _line(
            tool_calls=[
                {"function": {"name": "a", "arguments": {"x": 1}}},
                {"function": {"name": "b", "arguments": {}}},
            ]
        ),
        _line(done=True),
    )
    translator = StreamTranslator(MODEL, include_usage=True, created=1, call_prefix="call_")
    out = b"".join(translator.feed(body[i : i + 7]) for i in range(0, len(body), 7))
    assert translator.finished
    events = _events(out)
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in events[:-2]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "hm"},
        {"content": "Hel"},
        {"content": "lo"},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "a", "arguments": '{"x": 1}'},
                }
            ]
        },
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "b", "arguments": "{}"},
                }
            ]
        },
        {},
    ]
    assert events[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-2]["choices"] == []
    assert events[-2]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert {e["id"] for e in events[:-1]} == {events[0]["id"]}


def test_stream_without_include_usage_sends_no_usage_chunk() -> None:
    translator = StreamTranslator(MODEL)
    events = _events(translator.feed(_ndjson(_line(content="x"), _line(done=True))))
    assert [e == "[DONE]" or e["choices"][0]["finish_reason"] for e in events] == [
        None,
        None,
        "stop",
        True,
    ]


def test_error_line_mid_stream_ends_it_with_an_openai_error_event() -> None:
    translator = StreamTranslator(MODEL)
    body = _ndjson(_line(content="a"), {"error": "out of memory"}, _line(content="b"))
    events = _events(translator.feed(body))
    assert translator.finished
    assert events[-1] == {
        "error": {"message": "out of memory", "type": "upstream_error", "param": None, "code": None}
    }
    assert [e["choices"][0]["delta"] for e in events[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "a"},
    ]


def test_stream_ending_without_done_reports_truncation_but_keeps_a_last_unterminated_line() -> None:
    cut = StreamTranslator(MODEL)
    assert _events(cut.feed(_ndjson(_line(content="a"))) + cut.end())[-1]["error"]["type"] == (
        "backend_error"
    )
    whole = StreamTranslator(MODEL)
    events = _events(whole.feed(json.dumps(_line(done=True)).encode()) + whole.end())
    assert events[-1] == "[DONE]"


# -- end to end: openai SDK -> woollama -> fake Ollama ---------------------------------


class Rig:
    def __init__(self, server: Woollama, fake: FakeOllama) -> None:
        self.server = server
        self.fake = fake
        self.client = server.client()

    def last(self) -> Any:
        return self.fake.requests[-1]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root: Path = tmp_path_factory.mktemp("ollama")
    with FakeOllama(models=[MODEL]) as fake:
        # The built-in `ollama` provider, only re-pointed by env; the others exercise
        # time-outs and an unreachable server through the same kind.
        write_config(
            root / "config",
            inferencers=f"""
[inferencers.ollama]
kind = "ollama"

[inferencers.slowllama]
kind = "ollama"
base_url = "{fake.base_url}"
timeout = 0.5

[inferencers.deadllama]
kind = "ollama"
base_url = "http://127.0.0.1:{closed_port()}/v1"
""",
        )
        server = start(root, {"WOOLLAMA_OLLAMA_URL": fake.url})
        try:
            yield Rig(server, fake)
        finally:
            server.stop()


@pytest.fixture
def ollama(rig: Rig) -> Rig:
    rig.fake.reset()
    return rig


def _hello(**kwargs: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hello"}]
    return {"model": f"ollama/{MODEL}", "messages": messages, **kwargs}


def test_request_with_options_goes_to_api_chat_with_sampling_folded_in(ollama: Rig) -> None:
    answer = ollama.client.chat.completions.create(
        **_hello(temperature=0.2, max_tokens=64), extra_body={"options": {"num_ctx": 8192}}
    )
    assert answer.choices[0].message.content == "echo: hello"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens == 1
    request = ollama.last()
    assert request.path == "/api/chat"
    assert request.body["model"] == MODEL
    assert request.body["stream"] is False
    assert request.body["options"] == {"num_ctx": 8192, "temperature": 0.2, "num_predict": 64}


def test_request_without_options_uses_ollamas_openai_layer(ollama: Rig) -> None:
    answer = ollama.client.chat.completions.create(**_hello(temperature=0.2))
    assert answer.choices[0].message.content == "echo: hello"
    request = ollama.last()
    assert request.path == "/v1/chat/completions"
    assert request.body["temperature"] == 0.2 and "options" not in request.body


def test_streamed_native_answer_is_reassembled_by_the_sdk(ollama: Rig) -> None:
    ollama.fake.script(Text("Hello there, world", thinking="let me think"))
    stream = ollama.client.chat.completions.create(
        **_hello(stream=True, stream_options={"include_usage": True}),
        extra_body={"options": {"num_ctx": 8192}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    thinking = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert text == "Hello there, world"
    assert thinking == "let me think"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert ollama.last().body["stream"] is True


def test_native_tool_calls_come_back_and_results_go_back_with_tool_names(ollama: Rig) -> None:
    ollama.fake.script(ToolCalls([("get_time", {"tz": "UTC"}), ("add", {"a": 1, "b": 2})]))
    options = {"options": {"num_ctx": 2048}}
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_time", "add")
    ]
    answer = ollama.client.chat.completions.create(**_hello(tools=tools), extra_body=options)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_time", {"tz": "UTC"}),
        ("add", {"a": 1, "b": 2}),
    ]
    assert ollama.last().body["tools"] == tools

    messages = _hello()["messages"] + [
        choice.message.model_dump(exclude_none=True),
        *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls),
    ]
    ollama.client.chat.completions.create(
        model=f"ollama/{MODEL}", messages=messages, extra_body=options
    )
    sent = ollama.last().body["messages"]
    assert sent[1]["tool_calls"][1] == {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}}
    assert [(m["role"], m.get("tool_name")) for m in sent[2:]] == [
        ("tool", "get_time"),
        ("tool", "add"),
    ]


def test_streamed_tool_calls_arrive_whole_with_their_index(ollama: Rig) -> None:
    ollama.fake.script(ToolCalls([("get_time", {"tz": "UTC"}), ("add", {"a": 1})], content="ok"))
    stream = ollama.client.chat.completions.create(
        **_hello(stream=True), extra_body={"options": {"num_ctx": 2048}}
    )
    calls: dict[int, Any] = {}
    finish = None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            assert call.index not in calls  # one delta per call
            calls[call.index] = call
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [(calls[i].function.name, calls[i].function.arguments) for i in sorted(calls)] == [
        ("get_time", '{"tz": "UTC"}'),
        ("add", '{"a": 1}'),
    ]
    assert all(c.id for c in calls.values())


@pytest.mark.parametrize("options", [{"num_ctx": 2048}, None])
def test_unknown_model_is_relayed_as_404_on_either_path(
    ollama: Rig, options: dict[str, Any] | None
) -> None:
    extra = {"options": options} if options else None
    with pytest.raises(openai.NotFoundError, match="not found"):
        ollama.client.chat.completions.create(
            model="ollama/nope", messages=[{"role": "user", "content": "x"}], extra_body=extra
        )


def test_ollama_error_status_and_message_are_kept(ollama: Rig) -> None:
    ollama.fake.script(Error(400, "invalid option num_ctx"))
    with pytest.raises(openai.BadRequestError, match="invalid option num_ctx") as caught:
        ollama.client.chat.completions.create(**_hello(), extra_body={"options": {"num_ctx": 1}})
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("reply", "message"),
    [(StreamError("out of memory", after_chunks=2), "out of memory"), (Die(2), "ended abruptly")],
)
def test_stream_failing_midway_raises_in_the_client_after_the_text_so_far(
    ollama: Rig, reply: StreamError | Die, message: str
) -> None:
    ollama.fake.script(reply)
    stream = ollama.client.chat.completions.create(
        **_hello(stream=True), extra_body={"options": {"num_ctx": 1}}
    )
    text = ""
    with pytest.raises(openai.APIError, match=message):
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
    assert text == "tok0 tok1 "


def test_unreachable_ollama_is_a_502_and_a_stalled_one_a_504(ollama: Rig) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "extra_body": {"options": {}}}
    with pytest.raises(openai.APIStatusError, match="unreachable") as down:
        ollama.client.chat.completions.create(model=f"deadllama/{MODEL}", **body)
    assert down.value.status_code == 502
    ollama.fake.script(Stall())
    with pytest.raises(openai.APIStatusError) as slow:
        ollama.client.chat.completions.create(model=f"slowllama/{MODEL}", **body)
    assert slow.value.status_code == 504


def test_discovery_still_uses_the_openai_layer(ollama: Rig) -> None:
    ids = {m.id for m in ollama.client.models.list()}
    assert f"ollama/{MODEL}" in ids
    paths = {r.path for r in ollama.fake.requests}
    assert "/v1/models" in paths and "/api/tags" not in paths


# -- the fake itself keeps to the documented wire format -------------------------------


def test_fake_streams_ndjson_by_default_and_lists_tags() -> None:
    with FakeOllama(models=[MODEL]) as fake, httpx2.Client(base_url=fake.url, timeout=10) as http:
        answer = http.post(
            "/api/chat", json={"model": "qwen3:0.6b", "messages": _hello()["messages"]}
        )
        assert answer.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in answer.text.splitlines()]
        assert "".join(line["message"]["content"] for line in lines) == "echo: hello"
        assert [line["done"] for line in lines] == [False, False, True]
        assert lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] == 2
        tags = http.get("/api/tags").json()["models"]
        assert [(t["name"], t["model"]) for t in tags] == [(MODEL, MODEL)]
