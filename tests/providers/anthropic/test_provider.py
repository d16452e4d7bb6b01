"""The Anthropic Messages adapter: golden translations, then the real SDK end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest

from tests.fakes.anthropic_backend import Die, Error, FakeAnthropic, Text, Thinking, ToolUse
from tests.harness import Woollama, start, write_config
from woollama.errors import BackendError, BadRequest
from woollama.providers.anthropic.request import to_anthropic_request
from woollama.providers.anthropic.stream import StreamConverter
from woollama.providers.anthropic.translate import to_openai_error, to_openai_response

PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
    "RU5ErkJggg=="
)


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- request translation ---------------------------------------------------------------


def test_system_and_developer_messages_join_into_the_system_prompt():
    request = to_anthropic_request(
        {
            "model": "claude-x",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
                {"role": "user", "content": "hi"},
            ],
        }
    )
    assert request == {
        "model": "claude-x",
        "system": "Be brief.\n\nUse metric.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
    }


def test_consecutive_same_role_messages_merge_into_one_turn():
    request = to_anthropic_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "three"},
                {"role": "assistant", "content": ""},  # empty text is dropped, not sent
                {"role": "user", "content": "four"},
            ],
        }
    )
    assert request["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "three"}]},
        {"role": "user", "content": [{"type": "text", "text": "four"}]},
    ]


def test_images_become_base64_or_url_sources():
    request = to_anthropic_request(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what are these?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PNG_B64}"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}},
                    ],
                }
            ],
        }
    )
    assert request["messages"][0]["content"] == [
        {"type": "text", "text": "what are these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    "url", ["data:image/png,notbase64", "ftp://x.test/a.png", "data:;base64,AA=="]
)
def test_unusable_image_urls_are_a_bad_request(url: str):
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
        ],
    }
    with pytest.raises(BadRequest, match="image URL"):
        to_anthropic_request(body)


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks():
    request = to_anthropic_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather in Paris and Oslo?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        call("call_1", "weather", '{"city": "Paris"}'),
                        call("call_2", "weather", '{"city": "Oslo"}'),
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "no data", "is_error": True},
                {"role": "user", "content": "and tomorrow?"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "Current weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                        "strict": True,
                    },
                },
                {"type": "function", "function": {"name": "now"}},
            ],
        }
    )
    assert request["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": "no data",
                    "is_error": True,
                },
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ]
    assert request["tools"] == [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]"])
def test_tool_call_arguments_that_are_not_a_json_object_are_a_bad_request(arguments: str):
    body = {
        "model": "m",
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [call("c", "f", arguments)]}
        ],
    }
    with pytest.raises(BadRequest, match="must be a JSON object"):
        to_anthropic_request(body)


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),  # nothing to parallelise
        (None, None, None),
        (None, True, None),
    ],
)
def test_tool_choice_and_parallel_tool_calls_translate(choice: Any, parallel: Any, expected: Any):
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": TOOLS,
    }
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert to_anthropic_request(body).get("tool_choice") == expected


def test_sampling_limits_stop_user_and_stream_translate_and_unknown_fields_drop():
    request = to_anthropic_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": "END",
            "user": "u-1",
            "stream": True,
            "stream_options": {"include_usage": True},
            "seed": 7,
            "frequency_penalty": 0.1,
            "response_format": {"type": "text"},
        }
    )
    assert request == {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
        "max_tokens": 20,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "stream": True,
    }
    listed = to_anthropic_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "stop": ["a", "b"],
            "max_tokens": 5,
        }
    )
    assert (listed["stop_sequences"], listed["max_tokens"]) == (["a", "b"], 5)


# -- response translation --------------------------------------------------------------


def test_a_message_with_thinking_text_and_tool_use_becomes_a_chat_completion():
    message = {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-x-20250101",
        "content": [
            {"type": "thinking", "thinking": "Paris first.", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 100,
            "output_tokens": 7,
        },
    }
    assert to_openai_response(message, "claude-x", created=1700000000) == {
        "id": "chatcmpl-msg_01abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "refusal": None,
                    "reasoning_content": "Paris first.",
                    "tool_calls": [call("toolu_1", "weather", '{"city": "Paris"}')],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 115,
            "completion_tokens": 7,
            "total_tokens": 122,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
     ("stop_sequence", "stop"), ("refusal", "content_filter")],
)  # fmt: skip
def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: str):
    message = {"id": "m", "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    assert to_openai_response(message, "m")["choices"][0]["finish_reason"] == finish


def test_a_tool_only_answer_has_null_content():
    message = {"id": "m", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}
    reply = to_openai_response(message, "m")["choices"][0]["message"]
    assert reply["content"] is None
    assert reply["tool_calls"][0]["function"]["arguments"] == "{}"


# -- stream translation ----------------------------------------------------------------


def sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def block_delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def json_delta(index: int, fragment: str) -> bytes:
    return block_delta(index, {"type": "input_json_delta", "partial_json": fragment})


def block_start(index: int, block: dict[str, Any]) -> bytes:
    return sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def block_stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


# Thinking, then a text block, then two tool_use blocks whose deltas interleave: the
# converter must key fragments on the content-block index and number tool calls 0, 1.
RECORDED_STREAM = b"".join(
    [
        sse("message_start", {"type": "message_start", "message": {
            "id": "msg_01xyz", "type": "message", "role": "assistant", "content": [],
            "model": "claude-x", "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 20, "cache_read_input_tokens": 4, "output_tokens": 1}}}),
        block_start(0, {"type": "thinking", "thinking": ""}),
        sse("ping", {"type": "ping"}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Two cities"}),
        block_delta(0, {"type": "thinking_delta", "thinking": ", two calls."}),
        block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAh"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "text_delta", "text": "Checking"}),
        block_delta(1, {"type": "text_delta", "text": " both."}),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}}),
        json_delta(2, ""),
        block_start(3, {"type": "tool_use", "id": "toolu_B", "name": "weather", "input": {}}),
        json_delta(2, '{"city": '),
        json_delta(3, '{"city": "Os'),
        json_delta(2, '"Paris"}'),
        block_stop(2),
        json_delta(3, 'lo"}'),
        block_stop(3),
        sse("message_delta", {"type": "message_delta",
                              "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                              "usage": {"output_tokens": 42}}),
        sse("message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip


def parse_sse(raw: bytes) -> list[Any]:
    events = []
    for frame in raw.decode().split("\n\n"):
        if frame.strip():
            assert frame.startswith("data: "), frame
            data = frame.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def convert_all(raw: bytes, *, include_usage: bool, piece: int = 7) -> list[Any]:
    """Feed the stream in small pieces, as a network would, and parse the output."""
    converter = StreamConverter("claude-x", "claude", include_usage=include_usage, created=1)
    out = b"".join(converter.feed(raw[i : i + piece]) for i in range(0, len(raw), piece))
    converter.close()
    return parse_sse(out)


def test_a_recorded_stream_with_thinking_and_interleaved_tool_calls_becomes_openai_chunks():
    events = convert_all(RECORDED_STREAM, include_usage=True)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {c["id"] for c in chunks} == {"chatcmpl-msg_01xyz"}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "claude-x" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Two cities"},
        {"reasoning_content": ", two calls."},
        {"content": "Checking"},
        {"content": " both."},
        {"tool_calls": [{"index": 0, "id": "toolu_A", "type": "function",
                         "function": {"name": "weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "id": "toolu_B", "type": "function",
                         "function": {"name": "weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": '{"city": "Os'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": 'lo"}'}}]},
        {},
    ]  # fmt: skip
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes == [None] * 11 + ["tool_calls"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 24,
        "completion_tokens": 42,
        "total_tokens": 66,
        "prompt_tokens_details": {"cached_tokens": 4},
    }


def test_a_stream_without_include_usage_has_no_usage_chunk():
    chunks = convert_all(RECORDED_STREAM, include_usage=False, piece=1)[:-1]
    assert all("usage" not in c and c["choices"] for c in chunks)
    arguments: dict[int, str] = {}
    for c in chunks:
        for tc in c["choices"][0]["delta"].get("tool_calls", []):
            arguments[tc["index"]] = arguments.get(tc["index"], "") + tc["function"]["arguments"]
    assert {i: json.loads(a) for i, a in arguments.items()} == {
        0: {"city": "Paris"},
        1: {"city": "Oslo"},
    }


def test_a_tool_call_streamed_without_fragments_gets_empty_object_arguments():
    raw = b"".join([
        sse("message_start", {"type": "message_start", "message": {"id": "m", "usage": {}}}),
        block_start(0, {"type": "tool_use", "id": "t", "name": "now", "input": {}}),
        block_stop(0),
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        sse("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip
    chunks = convert_all(raw, include_usage=False)
    assert chunks[2]["choices"][0]["delta"] == {
        "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]
    }


def test_an_error_event_mid_stream_becomes_an_openai_error_without_done():
    raw = b"".join([
        sse("message_start", {"type": "message_start", "message": {"id": "m", "usage": {}}}),
        block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "text_delta", "text": "Hel"}),
        sse("error", {"type": "error",
                      "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        block_delta(0, {"type": "text_delta", "text": "lo"}),
    ])  # fmt: skip
    events = convert_all(raw, include_usage=False)
    assert events[-1] == {
        "error": {
            "message": "provider 'claude': Overloaded",
            "type": "overloaded_error",
            "param": None,
            "code": "overloaded_error",
        }
    }
    assert "[DONE]" not in events
    assert [e["choices"][0]["delta"] for e in events[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
    ]


def test_a_stream_that_ends_before_message_stop_is_a_backend_error():
    converter = StreamConverter("m", "claude")
    converter.feed(RECORDED_STREAM[: len(RECORDED_STREAM) // 2])
    with pytest.raises(BackendError, match="before message_stop"):
        converter.close()


# -- error translation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [(400, "invalid_request_error", 400), (401, "authentication_error", 401),
     (403, "permission_error", 403), (404, "not_found_error", 404),
     (413, "request_too_large", 413), (429, "rate_limit_error", 429),
     (500, "api_error", 502), (529, "overloaded_error", 503), (500, "overloaded_error", 503)],
)  # fmt: skip
def test_anthropic_errors_map_to_openai_errors_with_our_status(
    status: int, kind: str, expected: int
):
    raw = json.dumps(
        {"type": "error", "error": {"type": kind, "message": "nope"}, "request_id": "req_1"}
    )
    mapped, body = to_openai_error(status, raw.encode(), "claude")
    assert mapped == expected
    assert body == {
        "error": {
            "message": "provider 'claude': nope (request_id req_1)",
            "type": kind,
            "param": None,
            "code": kind,
        }
    }


def test_a_non_json_error_is_wrapped_and_a_5xx_becomes_a_bad_gateway():
    status, body = to_openai_error(500, b"<html>oops</html>", "claude")
    assert status == 502
    assert body["error"]["type"] == "upstream_error"
    assert "HTTP 500: <html>oops</html>" in body["error"]["message"]


# -- end to end: the real SDK → real woollama → fake Anthropic -------------------------

KEY = "sk-ant-test"


@dataclass
class Rig:
    server: Woollama
    fake: FakeAnthropic

    @property
    def client(self) -> openai.OpenAI:
        return self.server.client()

    def chat(self, content: str = "hi", model: str = "claude/claude-fake-1", **kwargs: Any) -> Any:
        messages = [{"role": "user", "content": content}]
        return self.client.chat.completions.create(model=model, messages=messages, **kwargs)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("anthropic")
    with FakeAnthropic(api_key=KEY) as fake:
        write_config(
            root / "config",
            inferencers=(
                f'[inferencers.claude]\nkind = "anthropic"\nbase_url = "{fake.base_url}"\n'
                'api_key_env = "FAKE_ANTHROPIC_KEY"\ndiscover = true\n'
                f'[inferencers.keyless]\nkind = "anthropic"\nbase_url = "{fake.base_url}"\n'
                'api_key_env = "FAKE_ANTHROPIC_UNSET_KEY"\n'
            ),
            recipes='[recipes.r]\ninferencer = "claude/m"\ntools = ["hello.count_to"]\n',
        )  # mcp.json: the bundled hello server
        server = start(root, {"FAKE_ANTHROPIC_KEY": KEY})
        try:
            tools = server.http().get("/v1/tools", params={"wait": 20}).json()
            assert {s["name"]: s["status"] for s in tools["servers"]}["hello"] == "connected"
            yield Rig(server, fake)
        finally:
            server.stop()


@pytest.fixture
def fake(rig: Rig) -> FakeAnthropic:
    rig.fake.requests.clear()
    assert rig.fake.pending_replies == 0
    return rig.fake


def test_a_non_streamed_chat_is_translated_both_ways(rig: Rig, fake: FakeAnthropic):
    fake.script(Text("Hello there.", usage={"input_tokens": 3, "output_tokens": 2}))
    messages = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "hi"}]
    reply = rig.client.chat.completions.create(model="claude/claude-fake-1", messages=messages)
    assert reply.choices[0].message.content == "Hello there."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "claude-fake-1"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 2)
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == "Be nice."
    assert sent.body["max_tokens"] == 4096


def test_a_streamed_chat_arrives_as_chunks_with_usage(rig: Rig, fake: FakeAnthropic):
    fake.script(Thinking("Let me see.", "Streaming works fine."))
    chunks = list(rig.chat(stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming works fine."
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert reasoning == "Let me see."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert fake.requests[-1].body["stream"] is True


def test_streamed_parallel_tool_calls_reassemble_in_the_sdk(rig: Rig, fake: FakeAnthropic):
    fake.script(
        ToolUse([("weather", {"city": "Paris", "days": [1, 2]}), ("now", {})], text="Sure.")
    )
    tools = [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "now"}},
    ]
    with rig.client.chat.completions.stream(
        model="claude/claude-fake-1", messages=[{"role": "user", "content": "go"}], tools=tools
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Sure."
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]
    assert calls == [("weather", {"city": "Paris", "days": [1, 2]}), ("now", {})]
    assert all(c.id.startswith("toolu_") for c in choice.message.tool_calls)
    assert [t["name"] for t in fake.requests[-1].body["tools"]] == ["weather", "now"]


@pytest.mark.parametrize(
    ("status", "kind", "exception", "expected"),
    [
        (529, "overloaded_error", openai.InternalServerError, 503),
        (429, "rate_limit_error", openai.RateLimitError, 429),
        (401, "authentication_error", openai.AuthenticationError, 401),
    ],
)
def test_anthropic_errors_reach_the_sdk_as_its_exception_classes(
    rig: Rig, fake: FakeAnthropic, status: int, kind: str, exception: type, expected: int
):
    fake.script(Error(status, kind, "try later"))
    with pytest.raises(exception) as info:
        rig.chat()
    assert info.value.status_code == expected
    assert "try later" in info.value.message


def test_an_error_event_mid_stream_raises_in_the_sdk(rig: Rig, fake: FakeAnthropic):
    fake.script(Error(529, "overloaded_error", "Overloaded", mid_stream=True))
    with pytest.raises(openai.APIError, match="Overloaded"):
        list(rig.chat(stream=True))


def test_a_stream_cut_short_raises_in_the_sdk(rig: Rig, fake: FakeAnthropic):
    fake.script(Die(after_deltas=2))
    with pytest.raises(openai.APIError, match="claude"):
        list(rig.chat(stream=True))


def test_a_missing_key_is_a_400_naming_the_variable(rig: Rig, fake: FakeAnthropic):
    with pytest.raises(openai.BadRequestError, match="FAKE_ANTHROPIC_UNSET_KEY"):
        rig.chat(model="keyless/claude-fake-1")
    assert fake.requests == []


def test_embeddings_are_unsupported(rig: Rig, fake: FakeAnthropic):
    with pytest.raises(openai.APIStatusError) as info:
        rig.client.embeddings.create(model="claude/claude-fake-1", input="x")
    assert info.value.status_code == 501
    assert "Messages API" in info.value.message


def test_models_are_discovered_with_the_key(rig: Rig, fake: FakeAnthropic):
    ids = {m.id for m in rig.client.models.list()}
    assert "claude/claude-fake-1" in ids
    assert not any(i.startswith("keyless/") for i in ids)  # no key, no discovery
    listing = [r for r in fake.requests if r.path == "/v1/models"]
    assert listing and listing[-1].headers["x-api-key"] == KEY


@pytest.mark.parametrize("stream", [False, True])
def test_a_recipe_runs_its_tool_loop_through_mcp_on_claude(
    rig: Rig, fake: FakeAnthropic, stream: bool
):
    fake.script(ToolUse([("hello__count_to", {"n": 3})]), Text("Counted to 3."))
    reply = rig.client.chat.completions.create(
        model="woollama/r", messages=[{"role": "user", "content": "count to 3"}], stream=stream
    )
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
    else:
        text = reply.choices[0].message.content
    assert text == "Counted to 3."
    first, second = (r.body for r in fake.messages_requests())
    assert first["model"] == "m"
    assert [t["name"] for t in first["tools"]] == ["hello__count_to"]
    assistant, results = second["messages"][-2:]
    (tool_use,) = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert (tool_use["name"], tool_use["input"]) == ("hello__count_to", {"n": 3})
    (result,) = results["content"]
    assert result["tool_use_id"] == tool_use["id"]
    assert json.loads(result["content"]) == {"count": 3, "total": 3, "done": True}


# -- the fake itself refuses what the real API refuses ----------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, {}, 401, "authentication_error", "x-api-key"),
        ({"x-api-key": KEY}, {}, 400, "invalid_request_error", "anthropic-version"),
        (None, {"stream_options": {}}, 400, "invalid_request_error", "stream_options: Extra"),
        (
            None,
            {"messages": [{"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                {"role": "user", "content": "no result"}]},
            400, "invalid_request_error", "without `tool_result`",
        ),
        (None, {"messages": [{"role": "user", "content": ""}]}, 400, "invalid_request_error",
         "non-empty"),
    ],
)  # fmt: skip
def test_the_fake_rejects_requests_the_real_api_rejects(
    headers: dict[str, str] | None, body: dict[str, Any], status: int, kind: str, message: str
):
    request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with FakeAnthropic(api_key=KEY) as fake:
        answer = httpx2.post(
            fake.base_url + "/messages",
            json={**request, **body},
            headers=headers or {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            timeout=10,
        )
    assert answer.status_code == status
    error = answer.json()
    assert error["type"] == "error" and error["request_id"].startswith("req_")
    assert error["error"]["type"] == kind
    assert message in error["error"]["message"]
