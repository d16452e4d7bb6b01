"""`/v1/messages` in front of a real engine: llama.cpp serving SmolLM2, via an alias."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import pytest

from tests.harness import Woollama
from tests.providers.test_llamacpp_engine import llamacpp_url  # noqa: F401  (a fixture)

GREET = {
    "name": "hello",
    "description": "Greet someone by name",
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}},
                     "required": ["name"]},
}  # fmt: skip


@pytest.fixture
def client(woollama: Callable[..., Woollama], llamacpp_url: str) -> anthropic.Anthropic:  # noqa: F811
    server = woollama(
        inferencers=f'[inferencers.llamacpp]\nbase_url = "{llamacpp_url}"\n\n'
        '[aliases]\n"claude-*" = ["llamacpp/smollm2"]\n'
    )
    return anthropic.Anthropic(base_url=f"http://{server.address}", api_key="unused",
                               max_retries=0, timeout=120.0)  # fmt: skip


def test_a_forced_tool_call_from_a_real_engine_is_a_tool_use_block(client: anthropic.Anthropic):
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, tools=[GREET],
        tool_choice={"type": "tool", "name": "hello"},
        messages=[{"role": "user", "content": "Greet Ada."}], extra_body={"temperature": 0},
    )  # fmt: skip
    uses = [b for b in message.content if b.type == "tool_use"]
    assert uses and uses[0].name == "hello"
    assert isinstance(uses[0].input, dict)
    assert message.stop_reason == "tool_use"


def test_a_real_engines_stream_arrives_as_messages_events(client: anthropic.Anthropic):
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=16, extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "Count to three."}],
    ) as stream:  # fmt: skip
        final = stream.get_final_message()
    assert final.content and final.content[0].type == "text" and final.content[0].text.strip()
    assert final.stop_reason in ("end_turn", "max_tokens")
    assert final.usage.output_tokens > 0


def test_count_tokens_uses_the_real_engines_tokenizer(client: anthropic.Anthropic):
    text = "The quick brown fox jumps over the lazy dog."
    counted = client.messages.with_raw_response.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": text}]
    )
    assert counted.headers["woollama-token-count"] == "text"
    tokens = counted.parse().input_tokens
    assert 9 <= tokens <= 16  # SmolLM2's BPE: about a token a word, plus BOS
    longer = client.messages.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": text * 4}]
    )
    assert longer.input_tokens > 3 * (tokens - 2)
