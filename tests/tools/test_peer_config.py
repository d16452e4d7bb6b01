"""The `"sampling"` key of an mcp.json server entry, as `woollama check-config` reads it."""

from __future__ import annotations

from pathlib import Path

from tests.config.test_check import HELLO, check_config
from tests.harness import write_config


def test_a_sampling_model_on_an_unknown_provider_is_a_config_error(tmp_path: Path):
    server = {**HELLO, "sampling": {"model": "olama/qwen3:14b"}}
    write_config(tmp_path / "config", mcp={"mcpServers": {"hello": server}})
    result = check_config(tmp_path)
    assert result.returncode == 1
    assert (
        "mcpServers.hello.sampling.model: unknown provider 'olama' (did you mean 'ollama'?)"
    ) in result.stdout


def test_a_sampling_entry_on_a_known_provider_passes(tmp_path: Path):
    server = {**HELLO, "sampling": {"model": "ollama/qwen3:14b"}}
    write_config(tmp_path / "config", mcp={"mcpServers": {"hello": server}})
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sampling.model" not in result.stdout


def test_sampling_takes_only_a_model(tmp_path: Path):
    server = {**HELLO, "sampling": {"model": "ollama/m", "budget": 3}}
    write_config(tmp_path / "config", mcp={"mcpServers": {"hello": server}})
    result = check_config(tmp_path)
    assert result.returncode != 0
    assert "budget" in result.stdout + result.stderr
