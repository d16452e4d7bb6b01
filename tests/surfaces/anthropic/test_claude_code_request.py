"""A request shaped like Claude Code's, through a local model and through Anthropic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes.anthropic_backend import FakeAnthropic, ToolUse
from tests.fakes.openai_backend import FakeOpenAI, ToolCalls
from tests.surfaces.anthropic.conftest import Rig

REQUEST: dict[str, Any] = json.loads(
    (Path(__file__).parent / "claude_code_request.json").read_text()
)


def test_claude_codes_request_runs_on_a_local_model_and_gets_its_tool_call(
    rig: Rig, fake: FakeOpenAI
):
    fake.script(ToolCalls([("Glob", '{"pattern": "**/*.py"}')], content="Looking."))
    body = {k: v for k, v in REQUEST.items() if k != "stream"}
    with rig.client().messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert final.model == REQUEST["model"]
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].name == "Glob"  # type: ignore[union-attr]
    assert final.content[1].input == {"pattern": "**/*.py"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    sent = fake.requests[-1].body
    assert sent["model"] == "local-model"  # the claude-sonnet-* alias
    assert "cache_control" not in json.dumps(sent)
    assert sent["user"] == REQUEST["metadata"]["user_id"]
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert system["content"] == "\n\n".join(b["text"] for b in REQUEST["system"])
    assert [t["function"]["name"] for t in sent["tools"]] == ["Bash", "Read", "Edit", "Glob"]
    assert [t["function"]["parameters"] for t in sent["tools"]] == [
        t["input_schema"] for t in REQUEST["tools"]
    ]


def test_claude_codes_request_reaches_anthropic_exactly_as_sent(rig: Rig, native: FakeAnthropic):
    native.script(ToolUse([("Glob", {"pattern": "*.py"})]))
    body = {**{k: v for k, v in REQUEST.items() if k != "stream"}, "model": "claude-fake-1"}
    with rig.client().messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert final.content[-1].type == "tool_use"
    [sent] = native.messages_requests()
    assert sent.body == {**body, "stream": True}  # cache_control and all
