"""Golden translations both ways, and a property: a valid request translates or is a 400."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from woollama.errors import BackendError, BadRequest
from woollama.surfaces.anthropic.stream import ChunkTranslator, EventWriter
from woollama.surfaces.anthropic.translate import to_chat_request, to_message

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
    "RU5ErkJggg=="
)
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


def test_a_full_request_becomes_the_equivalent_chat_request():
    request = to_chat_request(
        {
            "model": "m",
            "max_tokens": 256,
            "system": [
                {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Use metric."},
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this file and picture?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": PNG}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "need the file", "signature": "sig"},
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {"path": "b"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "alpha"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                     "content": [{"type": "text", "text": "no such file"}]},
                    {"type": "text", "text": "Go on."},
                ]},
            ],
            "tools": [{"name": "read", "description": "Read a file", "input_schema": SCHEMA,
                       "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "stop_sequences": ["END"],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "metadata": {"user_id": "user-1"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "stream": True,
        }
    )  # fmt: skip
    assert request == {
        "model": "m",
        "max_tokens": 256,
        "messages": [
            {"role": "system", "content": "You are terse.\n\nUse metric."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this file and picture?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ]},
            {"role": "assistant", "content": "Reading.", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "read", "arguments": '{"path": "a"}'}},
                {"id": "toolu_2", "type": "function",
                 "function": {"name": "read", "arguments": '{"path": "b"}'}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "alpha"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no such file"},
            {"role": "user", "content": "Go on."},
        ],
        "tools": [{"type": "function", "function": {"name": "read", "parameters": SCHEMA,
                                                    "description": "Read a file"}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stop": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "user": "user-1",
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "tool", "name": "read"},
         {"tool_choice": {"type": "function", "function": {"name": "read"}}}),
        ({"type": "auto", "disable_parallel_tool_use": True},
         {"tool_choice": "auto", "parallel_tool_calls": False}),
    ],
)  # fmt: skip
def test_every_tool_choice_maps_to_its_openai_counterpart(choice, expected):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "read", "input_schema": SCHEMA}], "tool_choice": choice}  # fmt: skip
    request = to_chat_request(body)
    assert {k: request[k] for k in expected} == expected
    assert ("parallel_tool_calls" in request) == ("parallel_tool_calls" in expected)


def test_an_image_url_source_stays_a_url_and_a_tool_result_image_joins_the_user_turn():
    request = to_chat_request({"model": "m", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "shot",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "text", "text": "screenshot"},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        ]}]},
    ]})  # fmt: skip
    assert request["messages"][1:] == [
        {"role": "tool", "tool_call_id": "t", "content": "screenshot"},
        {"role": "user", "content": [{"type": "image_url",
                                      "image_url": {"url": "https://x.test/a.png"}}]},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"model": 3}, "model"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
         "messages.0.content.0.source"),
        ({"system": 5}, "system"),
        ({"tools": [{"name": "web", "type": "web_search_20250305"}]}, "tools.0"),
        ({"tool_choice": {"type": "maybe"}}, "tool_choice.type"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)  # fmt: skip
def test_an_untranslatable_request_is_a_400_naming_the_field(patch: dict[str, Any], field: str):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **patch}
    with pytest.raises(BadRequest) as caught:
        to_chat_request(body)
    assert caught.value.param == field
    assert caught.value.message.startswith(field)


def test_a_completion_with_reasoning_and_tool_calls_becomes_a_message():
    message = to_message(
        {
            "choices": [{"finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me look.", "reasoning_content": "hmm",
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "read", "arguments": '{"path": "a"}'}}],
            }}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
                      "prompt_tokens_details": {"cached_tokens": 4}},
        },
        "claude-sonnet-4-5",
    )  # fmt: skip
    assert message["id"].startswith("msg_")
    assert {k: v for k, v in message.items() if k != "id"} == {
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": ""},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "read", "input": {"path": "a"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 8, "output_tokens": 7, "cache_creation_input_tokens": None,
                  "cache_read_input_tokens": 4},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
     ("content_filter", "refusal"), (None, "end_turn")],
)  # fmt: skip
def test_finish_reasons_map_to_stop_reasons(finish, stop):
    completion = {"choices": [{"finish_reason": finish, "message": {"content": "x"}}]}
    assert to_message(completion, "m")["stop_reason"] == stop


def _events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in filter(None, raw.decode().split("\n\n")):
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        out.append(event)
    return out


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"


def test_a_chunk_stream_becomes_anthropics_event_sequence_with_whole_tool_blocks():
    translator = ChunkTranslator(EventWriter("m"), "fake")
    head = {
        "index": 0,
        "id": "call_a",
        "type": "function",
        "function": {"name": "read", "arguments": ""},
    }
    second = {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "list", "arguments": ""},
    }
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
    chunks = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning_content": "think"}),
        _chunk({"content": "Hi"}),
        _chunk({"content": " there"}),
        _chunk({"tool_calls": [head]}),
        _chunk({"tool_calls": [second]}),
        # interleaved fragments, as OpenAI may send them
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"d'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"path"'}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '": "/"}'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ': "a"}'}}]}),
        _chunk({}, "tool_calls"),
        b"data: " + json.dumps(usage).encode() + b"\n\n",
        b"data: [DONE]\n\n",
    ]  # fmt: skip
    raw = translator.writer.start()
    for chunk in chunks:  # split mid-event too, as sockets do
        raw += translator.feed(chunk[:7]) + translator.feed(chunk[7:])
    events = _events(raw)
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start", "ping", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert events[1]["content_block"]["type"] == "thinking"
    assert events[3]["delta"] == {"type": "thinking_delta", "thinking": "think"}
    assert [events[6]["delta"]["text"], events[7]["delta"]["text"]] == ["Hi", " there"]
    assert events[9]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "read",
                                          "input": {}}  # fmt: skip
    assert events[10]["delta"] == {"type": "input_json_delta", "partial_json": '{"path": "a"}'}
    assert events[12]["content_block"]["id"] == "call_b"
    assert events[13]["delta"]["partial_json"] == '{"d": "/"}'
    assert [e["index"] for e in events if e["type"] == "content_block_start"] == [0, 1, 2, 3]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["input_tokens"] == 5 and events[-2]["usage"]["output_tokens"] == 3


# -- the property ------------------------------------------------------------------

_text = st.text(max_size=20)
_schema = st.fixed_dictionaries(
    {"type": st.just("object"), "properties": st.dictionaries(_text, st.just({}), max_size=2)}
)
_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": _text},
                          optional={"cache_control": st.just({"type": "ephemeral"})}),
    st.fixed_dictionaries({"type": st.just("image"), "source": st.one_of(
        st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.just("image/png"),
                               "data": st.just(PNG)}),
        st.fixed_dictionaries({"type": st.just("url"), "url": st.just("https://x.test/i.png")}),
    )}),
    st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": st.just("toolu_1"),
                           "content": st.one_of(_text, st.lists(
                               st.fixed_dictionaries({"type": st.just("text"), "text": _text}),
                               max_size=2))},
                          optional={"is_error": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("tool_use"), "id": st.just("toolu_1"),
                           "name": st.just("read"), "input": st.dictionaries(_text, _text,
                                                                             max_size=2)}),
    st.fixed_dictionaries({"type": st.just("thinking"), "thinking": _text,
                           "signature": st.just("s")}),
    st.fixed_dictionaries({"type": st.sampled_from(["document", "search_result",
                                                    "server_tool_use"])}),
)  # fmt: skip
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]),
     "content": st.one_of(_text, st.lists(_block, min_size=1, max_size=4))}
)  # fmt: skip
_request = st.fixed_dictionaries(
    {"model": st.sampled_from(["fake/m", "claude-sonnet-4-5"]),
     "max_tokens": st.integers(1, 64000),
     "messages": st.lists(_message, min_size=1, max_size=4)},
    optional={
        "system": st.one_of(_text, st.lists(st.fixed_dictionaries(
            {"type": st.just("text"), "text": _text},
            optional={"cache_control": st.just({"type": "ephemeral", "ttl": "1h"})}), max_size=3)),
        "tools": st.lists(st.fixed_dictionaries(
            {"name": st.sampled_from(["read", "bash"]), "input_schema": _schema},
            optional={"description": _text, "type": st.sampled_from(["custom", "bash_20250124"])}),
            max_size=3),
        "tool_choice": st.one_of(
            st.fixed_dictionaries({"type": st.sampled_from(["auto", "any", "none"])},
                                  optional={"disable_parallel_tool_use": st.booleans()}),
            st.fixed_dictionaries({"type": st.just("tool"), "name": st.just("read")})),
        "stop_sequences": st.lists(_text, max_size=3),
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "top_k": st.integers(1, 500),
        "metadata": st.fixed_dictionaries({}, optional={"user_id": _text}),
        "stream": st.booleans(),
        "thinking": st.one_of(
            st.fixed_dictionaries({"type": st.just("enabled"),
                                   "budget_tokens": st.integers(1024, 32000)}),
            st.just({"type": "disabled"})),
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_request)
def test_any_valid_messages_request_translates_or_is_a_400_naming_the_field(body):
    try:
        request = to_chat_request(body)
    except BadRequest as exc:
        assert exc.param, exc.message
        assert exc.message.startswith(exc.param)
        return
    json.dumps(request)  # what goes to the backend is plain JSON
    assert request["model"] == body["model"] and request["max_tokens"] == body["max_tokens"]
    roles = [m["role"] for m in request["messages"]]
    assert set(roles) <= {"system", "user", "assistant", "tool"}
    assert "system" not in roles[1:]
    assert "cache_control" not in json.dumps(request)  # dropped for non-Anthropic targets


def test_a_stream_without_usage_counts_its_chunks_as_output_tokens():
    translator = ChunkTranslator(EventWriter("m"), "engine")
    raw = translator.feed(
        _chunk({"role": "assistant", "content": ""})
        + b"".join(_chunk({"content": w}) for w in ("a", "b", "c"))
        + _chunk({}, "length")
        + b"data: [DONE]\n\n"
    )
    delta = _events(raw)[-2]
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"]["output_tokens"] == 3


def test_a_stream_that_ends_before_finishing_is_a_backend_error():
    translator = ChunkTranslator(EventWriter("m"), "engine")
    translator.feed(_chunk({"content": "half"}))
    with pytest.raises(BackendError, match="before it finished"):
        translator.close()
