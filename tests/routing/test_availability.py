"""What cannot answer is marked so, the same way on /v1/models and on MCP."""

from __future__ import annotations

from pathlib import Path

import anyio
from mcp import Client

from tests.fakes.claude_cli import install
from tests.harness import Woollama

NO_CLAUDE = {"WOOLLAMA_CLAUDE_BIN": "claude-not-installed-here"}


def models(server: Woollama) -> dict[str, dict]:
    return {m["id"]: m for m in server.http().get("/v1/models").json()["data"]}


def test_without_a_claude_cli_its_models_and_recipes_say_why(woollama):
    server: Woollama = woollama(env=NO_CLAUDE)
    listed = models(server)
    for model_id in ("claude-code/haiku", "woollama/cc-assistant", "woollama/cc-counter"):
        assert listed[model_id]["available"] is False
        assert "claude CLI was not found" in listed[model_id]["reason"]
    assert "available" not in listed["woollama/streamer"]


def test_a_provider_without_its_key_says_which_variable_to_set(woollama):
    server: Woollama = woollama(
        inferencers='[inferencers.openai]\nmodels = ["gpt-5-mini"]\n', env=NO_CLAUDE
    )
    model = models(server)["openai/gpt-5-mini"]
    assert model["available"] is False
    assert "OPENAI_API_KEY" in model["reason"]
    keyed = woollama(
        inferencers='[inferencers.openai]\nmodels = ["gpt-5-mini"]\n',
        env={**NO_CLAUDE, "OPENAI_API_KEY": "sk-test"},
    )
    assert "available" not in models(keyed)["openai/gpt-5-mini"]


async def test_mcp_prompts_and_resources_agree_with_v1_models(woollama):
    server: Woollama = woollama(env=NO_CLAUDE)
    with anyio.fail_after(30):
        async with Client(f"http://{server.address}/mcp") as client:
            prompts = {p.name: p for p in (await client.list_prompts()).prompts}
            resource = await client.read_resource("woollama://recipes/cc-assistant")
            model_list = await client.read_resource("woollama://models")
    assert "unavailable: the claude CLI was not found" in prompts["cc-assistant"].description
    assert "unavailable" not in (prompts["streamer"].description or "")
    assert '"available": false' in resource.contents[0].text
    assert '"reason": "the claude CLI was not found' in resource.contents[0].text
    assert '"available": false' in model_list.contents[0].text


def test_with_a_claude_cli_nothing_is_marked(woollama, tmp_path: Path):
    claude = install(tmp_path / "bin", record=tmp_path / "runs.jsonl", sessions=tmp_path / "s")
    server: Woollama = woollama(env={"WOOLLAMA_CLAUDE_BIN": str(claude)})
    listed = models(server)
    assert "available" not in listed["claude-code/haiku"]
    assert "available" not in listed["woollama/cc-assistant"]
