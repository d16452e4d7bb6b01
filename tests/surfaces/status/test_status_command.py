"""`woollama status` against a live woollama, and with nothing running."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, base_env, fake_inferencer
from tests.observability.support import poll
from tests.tools.support import HELLO

RECIPES = """
[recipes.needs-broken]
inferencer = "fake/fake-model"
tools = ["broken.anything"]

[recipes.counter]
inferencer = "fake/fake-model"
tools = ["hello.count_to"]
"""
MCP = {
    "mcpServers": {
        "hello": {"command": sys.executable, "args": [str(HELLO)]},
        "broken": {"command": "/nonexistent/server"},
    }
}


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "woollama", "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def running(woollama, fake_openai: FakeOpenAI) -> Woollama:
    server = woollama(
        inferencers=fake_inferencer(fake_openai),
        recipes=RECIPES,
        mcp=MCP,
        env={"WOOLLAMA_TOKEN": "tok"},  # the socket needs none
    )
    with server.http(headers={"Authorization": "Bearer tok"}) as http:
        http.get("/v1/tools", params={"wait": 20})
    with pytest.raises(openai.NotFoundError):
        server.client().chat.completions.create(
            model="woollama/nope", messages=[{"role": "user", "content": "hi"}]
        )
    return server


def test_status_shows_servers_providers_recipes_and_failures(running: Woollama):
    poll(lambda: "woollama/nope" in status(running.env).stdout, "the failure to be listed")
    done = status(running.env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"http://{running.address}/v1" in out
    assert str(running.socket_path) in out
    assert "hello: connected, 3 tools, since" in out
    assert "broken: retrying" in out or "broken: failed" in out
    assert "last error: cannot run '/nonexistent/server'" in out
    assert "fake: " in out and "claude-code: " in out
    assert "woollama/counter: usable" in out
    assert "woollama/needs-broken: not usable: tool 'broken.anything'" in out
    assert "POST /v1/chat/completions model=woollama/nope -> 404 (local)" in out


def test_status_json_is_for_scripts(running: Woollama):
    done = status(running.env, "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["address"] == running.address
    servers = {s["name"]: s for s in body["servers"]}
    assert servers["hello"]["status"] == "connected"
    assert servers["hello"]["tool_count"] == 3
    assert servers["broken"]["last_error"].startswith("cannot run")
    assert servers["broken"]["since"] is not None
    recipes = {r["name"]: r for r in body["recipes"]}
    assert recipes["counter"]["usable"] is True
    assert recipes["needs-broken"]["usable"] is False
    assert any(f["status"] == 404 for f in body["failures"])


def test_status_fails_when_nothing_runs(tmp_path):
    done = status(base_env(tmp_path))
    assert done.returncode == 1
    assert "nothing is running" in done.stderr
    assert done.stdout == ""
