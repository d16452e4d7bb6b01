"""`/metrics`, read with prometheus_client's own parser, moving with real requests."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import httpx2
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.openai_backend import Chunks, FakeOpenAI, Text, ToolCalls
from tests.harness import Woollama, fake_inferencer, reset, start, write_config
from tests.observability.support import poll, samples, value
from tests.tools.support import HELLO, children_of

TOKEN = "tok"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RECIPES = """
[recipes.counter]
inferencer = "fake/fake-model"
tools = ["hello.count_to"]
"""
CHAT = "/v1/chat/completions"


@dataclass
class Rig:
    server: Woollama
    fake: FakeOpenAI

    def scrape(self) -> dict:
        with self.server.http(headers=AUTH) as http:
            answer = http.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        return samples(answer.text)

    def chat(self, model: str = "fake/fake-model", **kwargs):
        client = self.server.client(api_key=TOKEN)
        messages = [{"role": "user", "content": "hi"}]
        return client.chat.completions.create(model=model, messages=messages, **kwargs)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("metrics")
    mcp = {
        "mcpServers": {
            "hello": {"command": sys.executable, "args": [str(HELLO)]},
            "broken": {"command": "/nonexistent/server"},
        }
    }
    with FakeOpenAI() as fake:
        write_config(root / "config", inferencers=fake_inferencer(fake), recipes=RECIPES, mcp=mcp)
        server = start(root, {"WOOLLAMA_TOKEN": TOKEN})
        try:
            server.http(headers=AUTH).get("/v1/tools", params={"wait": 20})
            yield Rig(server, fake)
        finally:
            server.stop()


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.fake)


def test_metrics_need_the_token_like_v1(rig: Rig):
    with rig.server.http() as http:
        assert http.get("/metrics").status_code == 401


def test_request_counters_and_histograms_move_with_requests(rig: Rig, fake: FakeOpenAI):
    before = rig.scrape()
    for _ in range(3):
        rig.chat()
    with pytest.raises(openai.BadRequestError):
        rig.chat("nowhere/x")
    after = poll(
        lambda: (
            (m := rig.scrape())
            and value(m, "woollama_requests_total", route=CHAT, status="400")
            > value(before, "woollama_requests_total", route=CHAT, status="400")
            and m
        ),
        "the counters",
    )
    ok = {"route": CHAT, "status": "200", "provider": "fake", "model": "fake/fake-model"}
    assert (
        value(after, "woollama_requests_total", **ok)
        - value(before, "woollama_requests_total", **ok)
        == 3
    )
    for histogram in (
        "woollama_request_duration_seconds_count",
        "woollama_time_to_first_byte_seconds_count",
    ):
        moved = value(after, histogram, route=CHAT) - value(before, histogram, route=CHAT)
        assert moved == 4, histogram
    # Overhead is known where the backend was waited on: the three relayed answers.
    overhead = "woollama_overhead_seconds_count"
    assert value(after, overhead, route=CHAT) - value(before, overhead, route=CHAT) == 3
    assert value(after, "woollama_overhead_seconds_sum", route=CHAT) >= 0


def test_streams_in_flight_counts_an_open_stream(rig: Rig, fake: FakeOpenAI):
    fake.script(Chunks(n=30, delay=0.05))
    stream = rig.chat(stream=True)
    chunks = iter(stream)
    next(chunks)
    assert value(rig.scrape(), "woollama_streams_in_flight") == 1
    assert sum(1 for _ in chunks) > 0
    poll(lambda: value(rig.scrape(), "woollama_streams_in_flight") == 0, "the stream to end")


async def test_tool_calls_and_recipe_turns_are_counted(rig: Rig, fake: FakeOpenAI):
    before = rig.scrape()
    fake.script(ToolCalls([("hello__count_to", '{"n": 2}')]), Text("two"))
    await anyio.to_thread.run_sync(lambda: rig.chat("woollama/counter"))
    http = httpx2.AsyncClient(headers=AUTH)
    url = f"http://{rig.server.address}/mcp"
    with anyio.fail_after(30):
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            assert (await client.call_tool("hello__count_to", {"n": 0})).is_error
    tool = {"server": "hello", "tool": "count_to"}
    after = await anyio.to_thread.run_sync(
        lambda: poll(
            lambda: (
                (m := rig.scrape())
                and value(m, "woollama_tool_calls_total", **tool, via="mcp")
                > value(before, "woollama_tool_calls_total", **tool, via="mcp")
                and m
            ),
            "the mcp call",
        )
    )

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("woollama_tool_calls_total", **tool, outcome="ok", via="recipe") == 1
    assert moved("woollama_tool_calls_total", **tool, outcome="error", via="mcp") == 1
    assert moved("woollama_tool_call_duration_seconds_count", **tool) == 2
    assert moved("woollama_recipe_turns_total", recipe="woollama/counter") == 2


def test_downstream_health_and_reconnects_are_shown(rig: Rig):
    m = rig.scrape()
    assert value(m, "woollama_mcp_server_up", server="hello") == 1
    assert value(m, "woollama_mcp_server_up", server="broken") == 0
    broken_states = {
        state: value(m, "woollama_mcp_server_health", server="broken", state=state)
        for state in ("connecting", "connected", "retrying", "failed")
    }
    assert broken_states["retrying"] + broken_states["failed"] == 1
    assert value(m, "woollama_mcp_server_tools", server="hello") >= 3
    before = value(m, "woollama_mcp_server_reconnects_total", server="hello")
    [hello_pid] = [p for p, cmd in children_of(rig.server.proc.pid).items() if "hello.py" in cmd]
    os.kill(hello_pid, signal.SIGKILL)
    poll(
        lambda: (
            value(rig.scrape(), "woollama_mcp_server_reconnects_total", server="hello")
            == before + 1
        ),
        "hello to reconnect",
        deadline=30,
    )
    assert value(rig.scrape(), "woollama_start_time_seconds") > 0
