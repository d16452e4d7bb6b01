"""The command line as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import base_env, write_config
from woollama import __version__


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "woollama", *args],
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version(tmp_path: Path):
    result = run(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"woollama {__version__}"


def test_check_config_shows_what_the_bundled_defaults_define(tmp_path: Path):
    result = run(tmp_path, "check-config")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    expected = ("ollama: http://localhost:11434/v1", "groq:", "woollama/streamer",
                "woollama/cc-counter", "hello: stdio", "textops: stdio", "ok")  # fmt: skip
    for fragment in expected:
        assert fragment in out


def test_check_config_reports_invalid_files_and_exits_1(tmp_path: Path):
    write_config(tmp_path / "config", recipes='[recipes.r]\ninferencer = "x/y"\nsystme = "typo"\n')
    result = run(tmp_path, "check-config")
    assert result.returncode == 1
    assert "recipes.toml: recipes.r.systme: unknown key" in result.stdout


def test_check_config_reports_unknown_servers_and_providers(tmp_path: Path):
    write_config(
        tmp_path / "config",
        recipes='[recipes.r]\ninferencer = "nowhere/y"\ntools = ["ghost.tool", "hello.hello"]\n',
    )
    result = run(tmp_path, "check-config")
    assert result.returncode == 1
    assert "recipes.r.inferencer: unknown provider 'nowhere'" in result.stdout
    assert "'ghost.tool': mcp.json has no server 'ghost'" in result.stdout
    assert "hello.hello" not in result.stdout.split("errors:")[1]


def test_serve_with_a_broken_config_exits_1_with_the_reason(tmp_path: Path):
    write_config(tmp_path / "config", mcp={"mcpServers": {"s": {"url": "${UNSET_THING}"}}})
    result = run(tmp_path)
    assert result.returncode == 1
    assert "UNSET_THING" in result.stderr
    assert result.stdout == ""


def test_host_option_off_loopback_without_a_token_exits_2_with_the_reason(tmp_path: Path):
    write_config(tmp_path / "config")
    result = run(tmp_path, "serve", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "--host 0.0.0.0" in result.stderr
    assert "WOOLLAMA_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # never announced a base_url
    assert not (tmp_path / "run" / "woollama.sock").exists()


def test_port_option_out_of_range_is_a_usage_error(tmp_path: Path):
    result = run(tmp_path, "--port", "65536")
    assert result.returncode == 2
    assert "not a port" in result.stderr


def test_listen_options_are_refused_for_commands_that_do_not_listen(tmp_path: Path):
    result = run(tmp_path, "--socket", str(tmp_path / "s.sock"), "mcp")
    assert result.returncode == 2
    assert "apply to serve, not to mcp" in result.stderr
