from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from woollama.config import config_dir, load_config, runtime_dir, state_dir
from woollama.config.expand import expand
from woollama.config.models import HttpStoreRef, McpStoreRef
from woollama.errors import ConfigError


def test_bundled_defaults_give_the_builtin_providers_when_the_dir_is_empty(tmp_path: Path):
    config = load_config(tmp_path, env={})
    assert set(config.inferencers) >= {
        "ollama",
        "openai",
        "anthropic",
        "groq",
        "together",
        "openrouter",
    }
    assert config.inferencers["ollama"].base_url == "http://localhost:11434/v1"
    assert config.inferencers["ollama"].discover is True
    assert config.inferencers["groq"].api_key_env == "GROQ_API_KEY"
    assert config.sources["recipes.toml"] == "bundled"


def test_ollama_url_comes_from_the_environment(tmp_path: Path):
    config = load_config(tmp_path, env={"WOOLLAMA_OLLAMA_URL": "http://127.0.0.1:9999"})
    assert config.inferencers["ollama"].base_url == "http://127.0.0.1:9999/v1"


def test_user_inferencers_merge_field_by_field_over_builtins(tmp_path: Path):
    (tmp_path / "inferencers.toml").write_text(
        '[inferencers.groq]\nmodels = ["llama-3.3-70b"]\n'
        '[inferencers.local]\nbase_url = "http://127.0.0.1:8080/v1/"\n'
    )
    config = load_config(tmp_path, env={})
    groq = config.inferencers["groq"]
    assert groq.models == ("llama-3.3-70b",)
    assert groq.base_url == "https://api.groq.com/openai/v1"  # kept from the built-in
    assert groq.api_key_env == "GROQ_API_KEY"
    assert config.inferencers["local"].base_url == "http://127.0.0.1:8080/v1"
    assert "openai" in config.inferencers


def test_user_recipes_and_mcp_replace_the_bundled_files(tmp_path: Path):
    (tmp_path / "recipes.toml").write_text(
        '[recipes.helper]\ninferencer = "ollama/qwen3:14b"\nsystem = "Be brief."\n'
        'tools = ["text.upper"]\nparams = { temperature = 0.1 }\n'
    )
    (tmp_path / "mcp.json").write_text(
        json.dumps({"mcpServers": {"text": {"command": "python", "args": ["-m", "x"]}}})
    )
    config = load_config(tmp_path, env={})
    recipe = config.recipes["helper"]
    assert recipe.tools == ("text.upper",)
    assert recipe.params == {"temperature": 0.1}
    assert recipe.max_turns == 8
    assert config.mcp.servers["text"].transport == "stdio"


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("threads", McpStoreRef(type="mcp", server="threads")),
        ({"type": "mcp", "server": "threads"}, McpStoreRef(type="mcp", server="threads")),
        (
            {"type": "http", "url": "http://127.0.0.1:1/"},
            HttpStoreRef(type="http", url="http://127.0.0.1:1/"),
        ),
    ],
)
def test_conversation_store_accepts_the_three_original_forms(tmp_path: Path, store, expected):
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {}, "conversationStore": store}))
    assert load_config(tmp_path, env={}).mcp.conversation_store == expected


def test_unset_bare_variable_is_a_load_error_naming_it(tmp_path: Path):
    (tmp_path / "mcp.json").write_text(
        json.dumps(
            {"mcpServers": {"s": {"url": "http://x/mcp", "headers": {"A": "${NOPE_TOKEN}"}}}}
        )
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    assert "NOPE_TOKEN" in str(info.value)
    assert "mcp.json" in str(info.value)


def test_default_applies_when_variable_is_unset(tmp_path: Path):
    (tmp_path / "mcp.json").write_text(
        json.dumps({"mcpServers": {"s": {"url": "${U:-http://127.0.0.1:5/mcp}"}}})
    )
    assert load_config(tmp_path, env={}).mcp.servers["s"].url == "http://127.0.0.1:5/mcp"


@pytest.mark.parametrize(
    ("file", "text", "fragments"),
    [
        (
            "recipes.toml",
            '[recipes.r]\ninferencer = "ollama/x"\ncolour = 1\n',
            ["recipes.r.colour", "unknown key"],
        ),
        (
            "recipes.toml",
            '[recipes.r]\ninferencer = "nomodel"\n',
            ["recipes.r.inferencer", "<provider>/<model>"],
        ),
        (
            "recipes.toml",
            '[recipes.r]\ninferencer = "a/b"\ntools = ["nodot"]\n',
            ["recipes.r.tools", "server.tool"],
        ),
        ("recipes.toml", "[recipes.r\n", ["not valid TOML"]),
        (
            "inferencers.toml",
            '[inferencers.x]\nbase_url = "ftp://h"\n',
            ["inferencers.x.base_url", "http://"],
        ),
        (
            "inferencers.toml",
            "[inferencers.x]\nmodels = []\n",
            ["inferencers.x.base_url", "is required but missing"],
        ),
        ("inferencers.toml", "[other]\n", ["unknown top-level", "other"]),
        ("mcp.json", '{"mcpServers": {"s": {}}}', ["mcpServers.s", "command"]),
        (
            "mcp.json",
            '{"mcpServers": {"s": {"command": "x", "url": "http://h"}}}',
            ["mcpServers.s", "not both"],
        ),
        ("mcp.json", "[1, 2]", ["top level must be an object"]),
        ("mcp.json", '{"mcpServers": {"a.b": {"command": "x"}}}', ["mcpServers", "'a.b'"]),
        ("mcp.json", "{", ["not valid JSON"]),
    ],
)
def test_invalid_files_are_reported_with_file_key_and_problem(
    tmp_path: Path, file: str, text: str, fragments: list[str]
):
    (tmp_path / file).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    message = str(info.value)
    assert file in message
    for fragment in fragments:
        assert fragment in message


def test_config_dir_resolution_order(tmp_path: Path):
    assert config_dir({"WOOLLAMA_CONFIG_DIR": "/a", "XDG_CONFIG_HOME": "/b"}) == Path("/a")
    assert config_dir({"XDG_CONFIG_HOME": "/b"}) == Path("/b/woollama")
    assert config_dir({}) == Path.home() / ".config" / "woollama"
    assert state_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/woollama")
    assert state_dir({"WOOLLAMA_STATE_DIR": "/w"}) == Path("/w")
    assert runtime_dir({}) == Path(f"/tmp/woollama-{os.getuid()}")
    assert runtime_dir({"XDG_RUNTIME_DIR": "/run/user/1"}) == Path("/run/user/1")


@given(st.text().filter(lambda s: "${" not in s))
def test_expansion_leaves_text_without_variables_unchanged(text: str):
    assert expand({"k": [text]}, {}, "f") == {"k": [text]}


@given(
    st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_characters="}"), max_size=20),
    st.text(min_size=1, max_size=20),
)
def test_set_variable_wins_over_default(name: str, default: str, value: str):
    assert expand(f"<${{{name}:-{default}}}>", {name: value}, "f") == f"<{value}>"
    assert expand(f"<${{{name}:-{default}}}>", {}, "f") == f"<{default}>"


def test_bundled_servers_run_with_this_python_from_the_installed_examples(tmp_path: Path):
    import sys

    servers = load_config(tmp_path, env={}).mcp.servers
    assert servers["hello"].command == sys.executable
    assert Path(servers["hello"].args[0]).is_file()
    assert Path(servers["textops"].args[0]).name == "textops.py"


def test_examples_dir_from_the_environment_wins(tmp_path: Path):
    servers = load_config(tmp_path, env={"WOOLLAMA_EXAMPLES_DIR": "/opt/ex"}).mcp.servers
    assert servers["hello"].args == ("/opt/ex/hello.py",)
