"""Where the target is the anthropic provider, the Messages request passes through natively."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes.anthropic_backend import Error, FakeAnthropic, Text, Thinking, ToolUse
from tests.surfaces.anthropic.conftest import ANTHROPIC_KEY, TOKEN, Rig

USER_HI = [{"role": "user", "content": "hi"}]


def test_a_bare_claude_name_without_alias_goes_to_anthropic_untranslated(
    rig: Rig, native: FakeAnthropic
):
    native.script(Text("Hi from Claude."))
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    message = rig.client().messages.create(
        model="claude-fake-1", max_tokens=20, system=system, messages=USER_HI,
        metadata={"user_id": "u-2"}, extra_body={"top_k": 5},
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )  # fmt: skip
    assert message.content[0].text == "Hi from Claude."  # type: ignore[union-attr]
    assert message.id.startswith("msg_01")  # Anthropic's own id: nothing was rebuilt
    [sent] = native.messages_requests()
    expected = {"model": "claude-fake-1", "max_tokens": 20, "system": system,
                "messages": USER_HI, "metadata": {"user_id": "u-2"}, "top_k": 5}  # fmt: skip
    assert sent.body == expected
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY  # the provider's key, not woollama's token
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "anthropic-version" in sent.headers


def test_an_explicit_anthropic_provider_model_streams_natively(rig: Rig, native: FakeAnthropic):
    native.script(ToolUse([("get_time", {"tz": "UTC"}), ("get_date", {})], text="Checking."))
    tools = [{"name": n, "input_schema": {"type": "object", "properties": {}}}
             for n in ("get_time", "get_date")]  # fmt: skip
    with rig.client().messages.stream(
        model="anthropic/claude-fake-1", max_tokens=50, messages=USER_HI, tools=tools
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert [(b.name, b.input) for b in final.content[1:]] == [  # type: ignore[union-attr]
        ("get_time", {"tz": "UTC"}), ("get_date", {})]  # fmt: skip
    assert final.stop_reason == "tool_use"
    assert native.messages_requests()[0].body["model"] == "claude-fake-1"


def test_native_thinking_comes_back_with_its_signature(rig: Rig, native: FakeAnthropic):
    native.script(Thinking("Pondering.", "Yes."))
    with rig.client().messages.stream(
        model="claude-fake-1", max_tokens=2000, messages=USER_HI,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:  # fmt: skip
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Pondering."  # type: ignore[union-attr]
    assert thinking.signature  # type: ignore[union-attr]
    assert text.text == "Yes."  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "kind", "exception"),
    [(529, "overloaded_error", anthropic.OverloadedError),
     (429, "rate_limit_error", anthropic.RateLimitError),
     (404, "not_found_error", anthropic.NotFoundError)],
)  # fmt: skip
def test_native_errors_are_relayed_as_anthropic_sent_them(
    rig: Rig, native: FakeAnthropic, status: int, kind: str, exception: type
):
    native.script(Error(status, kind, "from upstream"))
    with pytest.raises(exception) as caught:
        rig.client().messages.create(model="claude-fake-1", max_tokens=5, messages=USER_HI)
    assert caught.value.status_code == status
    assert caught.value.body["error"] == {"type": kind, "message": "from upstream"}


def test_a_native_mid_stream_error_reaches_the_client(rig: Rig, native: FakeAnthropic):
    native.script(Error(200, "overloaded_error", "overloaded now", mid_stream=True))
    stream = rig.client().messages.stream(model="claude-fake-1", max_tokens=5, messages=USER_HI)
    with pytest.raises(anthropic.APIStatusError, match="overloaded now"), stream as events:
        events.get_final_message()


def test_count_tokens_is_asked_of_anthropic_itself(rig: Rig, native: FakeAnthropic):
    counted = rig.client().messages.with_raw_response.count_tokens(
        model="claude-fake-1", messages=[{"role": "user", "content": "one two three four"}]
    )
    assert counted.parse().input_tokens == 4  # the fake counts words
    assert "woollama-token-count" not in counted.headers
    [sent] = [r for r in native.requests if r.path == "/v1/messages/count_tokens"]
    assert sent.body["model"] == "claude-fake-1"


def test_the_anthropic_key_is_never_the_clients(rig: Rig, native: FakeAnthropic):
    rig.client().messages.create(model="claude-fake-1", max_tokens=5, messages=USER_HI)
    assert native.messages_requests()[0].headers["x-api-key"] != TOKEN
