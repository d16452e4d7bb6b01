"""One access line per request (and per MCP tools/call): what it holds, and what never."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.openai_backend import Error, FakeOpenAI, Text, ToolCalls
from tests.harness import Woollama, reset, start, write_config
from tests.observability.support import access_lines, fields, poll, wait_for_line

# Seeded secrets: none of them may ever reach a log line.
BACKEND_KEY = "sk-SEEDED-backend-key-9f3a71"
TOKEN = "SEEDED-woollama-token-77c1d0"
PROMPT = "SEEDED-prompt-words-a81e55"
ANSWER = "SEEDED-completion-words-b22c04"
SECRETS = (BACKEND_KEY, TOKEN, PROMPT, ANSWER)

RECIPES = """
[recipes.counter]
inferencer = "fake/fake-model"
tools = ["hello.count_to"]
"""


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI
    log_file: Path

    def client(self) -> openai.OpenAI:
        return self.server.client(api_key=TOKEN)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("access")
    log_file = root / "logs" / "woollama.log"
    with FakeOpenAI(require_api_key=BACKEND_KEY) as fake:
        inferencers = (
            f'[inferencers.fake]\nbase_url = "{fake.base_url}"\napi_key_env = "FAKE_API_KEY"\n'
        )
        write_config(root / "config", inferencers=inferencers, recipes=RECIPES)
        env = {"WOOLLAMA_TOKEN": TOKEN, "FAKE_API_KEY": BACKEND_KEY,
               "WOOLLAMA_LOG_FILE": str(log_file)}  # fmt: skip
        server = start(root, env)
        try:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            server.http(headers=auth).get("/v1/tools", params={"wait": 20})
            yield Rig(server, fake, log_file)
        finally:
            server.stop()


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


def chat(rig: Rig, model: str, content: str = "hi", **kwargs):
    messages = [{"role": "user", "content": content}]
    return rig.client().chat.completions.create(model=model, messages=messages, **kwargs)


def test_a_relayed_answer_gets_one_line_with_its_timings(rig: Rig, fake: FakeOpenAI):
    chat(rig, "fake/fake-model", "first")
    line = wait_for_line(rig.server, "POST /v1/chat/completions", "status=200")
    f = fields(line)
    assert f["surface"] == "openai"
    assert f["model"] == "fake/fake-model"
    assert f["provider"] == "fake"
    assert f["origin"] == "relayed"
    total, upstream, overhead = (float(f[k]) for k in ("total_ms", "upstream_ms", "overhead_ms"))
    assert 0 < upstream <= total
    assert overhead == pytest.approx(total - upstream, abs=0.11)
    assert int(f["bytes"]) > 0


def test_a_backend_error_is_logged_as_relayed(rig: Rig, fake: FakeOpenAI):
    fake.script(Error(429, "slow down", type="rate_limit_error", headers={"retry-after-ms": "0"}))
    with pytest.raises(openai.RateLimitError):
        chat(rig, "fake/fake-model")
    line = wait_for_line(rig.server, "status=429")
    f = fields(line)
    assert (f["origin"], f["provider"], f["model"]) == ("relayed", "fake", "fake/fake-model")
    assert f["upstream_ms"] != "-"


def test_woollamas_own_error_is_logged_as_local(rig: Rig, fake: FakeOpenAI):
    with pytest.raises(openai.BadRequestError):
        chat(rig, "nowhere/some-model")
    line = wait_for_line(rig.server, "model=nowhere/some-model")
    f = fields(line)
    assert (f["status"], f["origin"]) == ("400", "local")
    assert f["error"] == "invalid_request_error:model_not_found"


def test_a_refused_token_is_logged_without_the_token_sent(rig: Rig, fake: FakeOpenAI):
    wrong = "SEEDED-wrong-token-c0ffee"
    with rig.server.http(headers={"Authorization": f"Bearer {wrong}"}) as http:
        assert http.get("/v1/models").status_code == 401
    line = wait_for_line(rig.server, "GET /v1/models", "status=401")
    assert fields(line)["origin"] == "local"
    assert wrong not in rig.server.log()


def test_a_stream_gets_one_line_when_it_ends(rig: Rig, fake: FakeOpenAI):
    before = len(access_lines(rig.server))
    chunks = list(chat(rig, "fake/fake-model", "streamed", stream=True))
    assert chunks

    def new_lines() -> list[str]:
        return [x for x in access_lines(rig.server)[before:] if "/v1/chat/completions" in x]

    poll(new_lines, "the stream's line")  # lines are written in small batches
    lines = new_lines()
    assert len(lines) == 1, lines
    f = fields(lines[0])
    assert (f["status"], f["origin"]) == ("200", "relayed")
    assert float(f["upstream_ms"]) <= float(f["total_ms"])


def test_a_recipe_line_has_its_turns_and_tool_calls(rig: Rig, fake: FakeOpenAI):
    fake.script(
        ToolCalls([("hello__count_to", '{"n": 2}')]),
        ToolCalls([("hello__count_to", '{"n": 0}')]),  # hello refuses 0: a tool error
        Text("done"),
    )
    chat(rig, "woollama/counter")
    line = wait_for_line(rig.server, "model=woollama/counter", "status=200")
    f = fields(line)
    assert (f["provider"], f["origin"], f["turns"]) == ("woollama", "local", "3")
    calls = f["tools"].split(",")
    assert [c.split(":")[0] for c in calls] == ["hello.count_to->ok", "hello.count_to->error"]
    assert all(c.endswith("ms") and float(c.split(":")[1][:-2]) >= 0 for c in calls)


async def test_an_mcp_tools_call_gets_a_line_of_its_own(rig: Rig, fake: FakeOpenAI):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
    url = f"http://{rig.server.address}/mcp"
    with anyio.fail_after(30):
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("hello__count_to", {"n": 2})
            assert not result.is_error
            failed = await client.call_tool("hello__count_to", {"n": 0})
            assert failed.is_error
    ok = wait_for_line(rig.server, "tools/call hello.count_to", "outcome=ok")
    assert fields(ok)["surface"] == "mcp" and float(fields(ok)["ms"]) >= 0
    wait_for_line(rig.server, "tools/call hello.count_to", "outcome=error")
    wait_for_line(rig.server, "POST /mcp", "surface=mcp", "status=200")


def test_seeded_secrets_never_reach_the_log(rig: Rig, fake: FakeOpenAI):
    fake.script(Text(ANSWER))
    assert chat(rig, "fake/fake-model", PROMPT).choices[0].message.content == ANSWER
    echoed = chat(rig, "fake/fake-model", PROMPT, stream=True)  # echoes the prompt back
    assert PROMPT in "".join(c.choices[0].delta.content or "" for c in echoed if c.choices)
    fake.script(ToolCalls([("hello__count_to", f'{{"n": 1, "note": "{PROMPT}"}}')]), Text(ANSWER))
    chat(rig, "woollama/counter", PROMPT)
    wait_for_line(rig.server, "model=woollama/counter", "turns=2")
    stderr = rig.server.log()
    in_file = rig.log_file.read_text()
    assert "woollama.access" in in_file  # the log file has the access lines too
    for secret in SECRETS:
        assert secret not in stderr
        assert secret not in in_file


def test_access_log_can_be_turned_off(woollama, fake_openai: FakeOpenAI):
    server = woollama(
        inferencers=f'[inferencers.fake]\nbase_url = "{fake_openai.base_url}"\n',
        env={"WOOLLAMA_ACCESS_LOG": "0"},
    )
    messages = [{"role": "user", "content": "hi"}]
    server.client().chat.completions.create(model="fake/fake-model", messages=messages)
    with server.http() as http:
        assert http.get("/v1/status").json()["recent"][0]["status"] == 200
    assert access_lines(server) == []
