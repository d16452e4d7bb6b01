"""`claude-code/<model>` through a real woollama: completion, recipes and delegation."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.claude_cli import install
from tests.harness import Woollama

RECIPES = """
[recipes.cc-assistant]
inferencer = "claude-code/haiku"
system = "You are terse."
tools = []

[recipes.cc-counter]
inferencer = "claude-code/haiku"
system = "Count with the tool."
tools = ["hello.count_to"]
max_turns = 5
"""


def start_with_fake_claude(woollama, tmp_path: Path) -> tuple[Woollama, Path]:
    record = tmp_path / "claude-runs.jsonl"
    claude = install(tmp_path / "bin", record=record, sessions=tmp_path / "sessions")
    server = woollama(recipes=RECIPES, env={"WOOLLAMA_CLAUDE_BIN": str(claude),
                                            "ANTHROPIC_API_KEY": "sk-ant-secret"})  # fmt: skip
    return server, record


def runs(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_claude_code_models_are_listed_and_answer(woollama, tmp_path: Path):
    server, record = start_with_fake_claude(woollama, tmp_path)
    ids = {m.id for m in server.client().models.list()}
    assert {"claude-code/haiku", "woollama/cc-assistant"} <= ids
    reply = server.client().chat.completions.create(
        model="claude-code/haiku", messages=[{"role": "user", "content": "hi there"}]
    )
    assert reply.choices[0].message.content == "claude says: hi there"
    run = runs(record)[-1]
    assert "ANTHROPIC_API_KEY" not in run["env"]


def test_tool_less_recipe_streams_claudes_answer(woollama, tmp_path: Path):
    server, _ = start_with_fake_claude(woollama, tmp_path)
    stream = server.client().chat.completions.create(
        model="woollama/cc-assistant",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "claude says: stream please"


def test_recipe_with_tools_delegates_only_its_tools_to_claude(woollama, tmp_path: Path):
    server, record = start_with_fake_claude(woollama, tmp_path)
    server.http().get("/v1/tools", params={"wait": 20})
    reply = server.client().chat.completions.create(
        model="woollama/cc-counter", messages=[{"role": "user", "content": "count to 3"}]
    )
    assert reply.choices[0].message.content == "claude says: count to 3"
    run = runs(record)[-1]
    argv = run["argv"]
    allowed = argv[argv.index("--allowedTools") + 1]
    assert allowed == "mcp__hello__count_to"
    assert [set(c["mcpServers"]) for c in run["mcp_config"]] == [{"hello"}]  # not textops
    assert "--strict-mcp-config" in argv
