"""`woollama check-config` and start-up find the same recipe problems, and say them for people."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import Woollama, base_env, write_config

HELLO = {"command": sys.executable, "args": [str(Path("examples/hello.py").resolve())]}
RECIPES = """
[recipes.typo_server]
inferencer = "ollama/m"
tools = ["helo.count_to"]

[recipes.typo_provider]
inferencer = "olama/m"

[recipes.keyless]
inferencer = "groq/llama"

[recipes.bad_choice]
inferencer = "ollama/m"
tools = ["hello.count_to"]
params = { tool_choice = { type = "function", function = { name = "hello.count_too" } } }

[recipes.good_choice]
inferencer = "ollama/m"
tools = ["hello.count_to"]
params = { tool_choice = { type = "function", function = { name = "hello.count_to" } } }
"""


def check_config(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "woollama", "check-config"],
        env=base_env(root, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_recipe_mistakes_are_errors_with_suggestions(tmp_path: Path):
    write_config(tmp_path / "config", recipes=RECIPES, mcp={"mcpServers": {"hello": HELLO}})
    result = check_config(tmp_path)
    assert result.returncode == 1
    out = result.stdout
    recipes = str(tmp_path / "config" / "recipes.toml")
    assert (
        f"{recipes}: recipes.typo_server.tools: 'helo.count_to': mcp.json has no server "
        "'helo' (did you mean 'hello'?)"
    ) in out
    typo = "recipes.typo_provider.inferencer: unknown provider 'olama' (did you mean 'ollama'?)"
    assert f"{recipes}: {typo}" in out
    assert (
        f"{recipes}: recipes.bad_choice.params.tool_choice: names 'hello.count_too', which is "
        "not one of the recipe's tools (hello.count_to) (did you mean 'hello.count_to'?)"
    ) in out
    assert "good_choice" not in out.split("errors:")[1]


def test_an_unset_api_key_and_a_missing_command_are_warnings(tmp_path: Path):
    write_config(
        tmp_path / "config",
        recipes='[recipes.keyless]\ninferencer = "groq/llama"\n',
        mcp={"mcpServers": {"gone": {"command": "no-such-mcp-server-anywhere"}}},
    )
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stdout
    warnings = result.stdout.split("warnings:")[1]
    assert (
        "recipes.keyless.inferencer: provider 'groq' needs its API key in GROQ_API_KEY" in warnings
    )
    assert "mcpServers.gone.command: 'no-such-mcp-server-anywhere' is not an executable" in warnings
    assert check_config(tmp_path, GROQ_API_KEY="k").stdout.count("GROQ_API_KEY, which") == 0


def test_bundled_recipes_without_their_servers_are_not_offered_nor_errors(tmp_path: Path):
    # The user's own mcp.json, no recipes.toml: the bundled recipes are still in force.
    write_config(tmp_path / "config", mcp={"mcpServers": {"mine": HELLO}})
    result = check_config(tmp_path, PATH="/usr/bin:/bin")
    assert result.returncode == 0, result.stdout
    assert "errors:" not in result.stdout
    assert (
        "bundled recipe 'streamer' is not offered: mcp.json has no server 'hello'" in result.stdout
    )
    assert "woollama/cc-assistant" in result.stdout  # needs no server, so it stays
    assert (
        "recipes.toml (bundled): recipes.cc-assistant.inferencer: the claude CLI" in result.stdout
    )


def test_start_up_logs_the_same_problems_as_check_config(woollama):
    server: Woollama = woollama(recipes=RECIPES, mcp={"mcpServers": {"hello": HELLO}})
    log = server.log()
    recipes = str(server.config_dir / "recipes.toml")
    assert f"config error: {recipes}: recipes.typo_server.tools: 'helo.count_to'" in log
    assert f"config warning: {recipes}: recipes.keyless.inferencer: provider 'groq'" in log
    # ... and it still serves what works.
    assert server.client().models.list().object == "list"
