"""The README's snippets run as written against a live woollama.

Ollama and the `claude` CLI cannot run here, so the woollama under test points
`ollama` at a fake OpenAI-compatible backend and `WOOLLAMA_CLAUDE_BIN` at the fake CLI;
everything else (the SDKs, the bundled MCP servers, the socket) is real.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.claude_cli import install
from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, start
from woollama.config import load_config
from woollama.config.check import check

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("readme")
    claude = install(root / "bin", sessions=root / "sessions")
    with FakeOpenAI(models=["qwen3:14b", "qwen3:14b-iq4xs"]) as ollama:
        running = start(
            root,
            {
                "WOOLLAMA_OLLAMA_URL": f"http://127.0.0.1:{ollama.port}",
                "WOOLLAMA_CLAUDE_BIN": str(claude),
            },
        )
        running.http().get("/v1/tools", params={"wait": 20})
        try:
            yield running
        finally:
            running.stop()


def run(server: Woollama, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=server.env, capture_output=True, text=True, timeout=90, check=False,
        cwd=server.config_dir.parent,
    )  # fmt: skip


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_each_python_snippet_runs_as_written(server: Woollama, index: int):
    code = blocks("python")[index]
    result = run(server, [sys.executable, "-c", code])
    assert result.returncode == 0, (
        f"{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert result.stdout.strip(), "a snippet that prints nothing shows nothing"


def test_the_curl_snippet_lists_models_over_the_socket(server: Woollama):
    [line] = [ln for b in blocks("sh") for ln in b.splitlines() if ln.startswith("curl ")]
    result = run(server, ["sh", "-c", line])
    assert result.returncode == 0, result.stderr
    assert '"object":"list"' in result.stdout.replace(" ", "")


def test_config_snippets_load_without_errors(tmp_path: Path):
    names = {"[inferencers.": "inferencers.toml", "[recipes.": "recipes.toml"}
    for body in blocks("toml"):
        [name] = [file for prefix, file in names.items() if body.lstrip().startswith(prefix)]
        (tmp_path / name).write_text(body)
    for body in blocks("json"):
        (tmp_path / "mcp.json").write_text(body)
    config = load_config(tmp_path, env={})
    errors = [str(p) for p in check(config, env={}) if p.severity == "error"]
    assert errors == []
