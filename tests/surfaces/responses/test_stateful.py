"""Stateful /v1/responses: conversations owned by their backends, driven by the real SDK."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.claude_cli import install
from tests.fakes.managed_agents_backend import FakeManagedAgents
from tests.fakes.openai_backend import FakeOpenAI, Slow
from tests.harness import Woollama, fake_inferencer

EXAMPLES = Path(__file__).parents[3] / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as backend:
        yield backend


def mcp_store(threads: Path) -> dict:
    return {
        "mcpServers": {"threads": {"command": sys.executable,
                                   "args": [str(EXAMPLES / "store_mcp.py"), str(threads)]}},
        "conversationStore": {"type": "mcp", "server": "threads"},
    }  # fmt: skip


@pytest.fixture
def http_store(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "store_http.py"), str(tmp_path / "http-threads"),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(50):  # uvicorn logs one line per start-up step; bounded
            line = proc.stderr.readline() if proc.stderr else ""
            if "Uvicorn running" in line or not line:
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def history_sent(fake: FakeOpenAI) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake.requests[-1].body["messages"]]


def two_turns_recall(server: Woollama, fake: FakeOpenAI) -> None:
    client = server.client()
    first = client.responses.create(model="fake/m", input="my name is Ada", store=True)
    assert first.output_text == "echo: my name is Ada"
    assert first.conversation is not None
    second = client.responses.create(
        model="fake/m", input="what is my name?", previous_response_id=first.id
    )
    assert second.output_text == "echo: what is my name?"
    assert second.conversation.id == first.conversation.id
    assert history_sent(fake) == [
        ("user", "my name is Ada"),
        ("assistant", "echo: my name is Ada"),
        ("user", "what is my name?"),
    ]
    items = list(client.conversations.items.list(first.conversation.id, order="asc"))
    assert [i.role for i in items] == ["user", "assistant", "user", "assistant"]
    assert items[1].content[0].text == "echo: my name is Ada"


def test_mcp_store_keeps_the_conversation(woollama, fake: FakeOpenAI, tmp_path: Path):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp=mcp_store(tmp_path / "threads"))  # fmt: skip
    server.http().get("/v1/tools", params={"wait": 20})
    two_turns_recall(server, fake)
    assert len(list((tmp_path / "threads").glob("*.json"))) == 1


def test_http_store_keeps_the_conversation(woollama, fake: FakeOpenAI, http_store: str):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp={"mcpServers": {},
                           "conversationStore": {"type": "http", "url": http_store}})  # fmt: skip
    two_turns_recall(server, fake)


def test_conversation_param_and_key_route_turns(woollama, fake: FakeOpenAI, tmp_path: Path):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp=mcp_store(tmp_path / "threads"))  # fmt: skip
    server.http().get("/v1/tools", params={"wait": 20})
    client = server.client()
    a = client.responses.create(model="fake/m", input="one", extra_body={"key": "chat-7"})
    b = client.responses.create(model="fake/m", input="two", extra_body={"key": "chat-7"})
    assert a.conversation.id == b.conversation.id
    c = client.responses.create(model="fake/m", input="three", conversation=a.conversation.id)
    assert c.conversation.id == a.conversation.id
    assert [m for _, m in history_sent(fake)][-1] == "three"
    assert len(history_sent(fake)) == 5


def test_stateful_stream_is_a_normal_responses_stream(woollama, fake: FakeOpenAI, tmp_path: Path):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp=mcp_store(tmp_path / "threads"))  # fmt: skip
    server.http().get("/v1/tools", params={"wait": 20})
    events = list(server.client().responses.create(model="fake/m", input="hi", store=True,
                                                   stream=True))  # fmt: skip
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "echo: hi"


def test_unknown_previous_response_is_404(woollama, fake: FakeOpenAI, tmp_path: Path):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp=mcp_store(tmp_path / "threads"))  # fmt: skip
    response = server.http().post(
        "/v1/responses", json={"model": "fake/m", "input": "x", "previous_response_id": "resp_nope"}
    )
    assert response.status_code == 404


def test_without_a_store_stateful_requests_are_501(woollama, fake: FakeOpenAI):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp={"mcpServers": {}})  # fmt: skip
    response = server.http().post(
        "/v1/responses", json={"model": "fake/m", "input": "x", "store": True}
    )
    assert response.status_code == 501
    assert "conversationStore" in response.json()["error"]["message"]


def test_claude_sessions_resume_across_a_restart(woollama, tmp_path: Path):
    claude = install(tmp_path / "bin", sessions=tmp_path / "sessions")
    env = {"WOOLLAMA_CLAUDE_BIN": str(claude)}
    root = tmp_path / "w"
    before = woollama(root=root, env=env)
    first = before.client().responses.create(
        model="claude-code/haiku", input="remember apples", store=True
    )
    assert first.output_text == "claude says: remember apples"
    before.stop()
    again = woollama(root=root, env=env)
    second = again.client().responses.create(
        model="claude-code/haiku", input="and pears", previous_response_id=first.id
    )
    assert second.output_text == "claude remembers: remember apples | and pears"


def test_managed_agent_recalls_pauses_and_takes_one_answer(woollama, tmp_path: Path):
    with FakeManagedAgents(api_key="sk-ant-k") as agents:
        server = woollama(
            inferencers=f'[inferencers.anthropic]\nbase_url = "{agents.base_url}/v1"\n',
            env={"ANTHROPIC_API_KEY": "sk-ant-k"},
        )
        client = server.client()
        first = client.responses.create(model="claude-agent/claude-sonnet-4-5", input="a",
                                        store=True)  # fmt: skip
        conv = first.conversation.id
        second = client.responses.create(model="claude-agent/x", input="b", conversation=conv)
        assert second.output_text == "agent heard: b (earlier: a)"
        agents.script_ask("Which city?")
        paused = (
            server.http()
            .post(
                "/v1/responses",
                json={"model": "claude-agent/x", "input": "plan a trip", "conversation": conv},
            )
            .json()
        )
        assert paused["status"] == "requires_action"
        assert paused["required_action"] == {"type": "ask_user", "question": "Which city?"}
        assert client.conversations.retrieve(conv).model_extra["status"] == "awaiting_input"

        def answer(city: str) -> str:
            return client.responses.create(model="claude-agent/x", input=city,
                                           conversation=conv).output_text  # fmt: skip

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(answer, ["Paris", "Rome"]))
        assert sum(r.startswith("thanks for:") for r in replies) == 1
        items = list(client.conversations.items.list(conv, order="asc"))
        assert items[0].content[0].text == "a"


def test_a_turn_killed_mid_way_leaves_the_conversation_usable(
    woollama, fake: FakeOpenAI, tmp_path: Path
):
    root = tmp_path / "crash"
    inferencers = fake_inferencer(fake)
    store = mcp_store(tmp_path / "threads")
    server = woollama(root=root, inferencers=inferencers, mcp=store)
    server.http().get("/v1/tools", params={"wait": 20})
    conv = server.http().post("/v1/conversations", json={"model": "fake/m"}).json()["id"]
    fake.script(Slow(60.0))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            server.http().post,
            "/v1/responses",
            json={"model": "fake/m", "input": "slow", "conversation": conv},
        )
        assert fake.wait_requests(1, timeout=20)
        assert server.http().get(f"/v1/conversations/{conv}").json()["status"] == "busy"
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        with pytest.raises(Exception):  # noqa: B017 - the connection just died
            pending.result(timeout=20)
    revived = woollama(root=root, inferencers=inferencers, mcp=store)
    revived.http().get("/v1/tools", params={"wait": 20})
    assert revived.http().get(f"/v1/conversations/{conv}").json()["status"] == "idle"
    reply = revived.client().responses.create(model="fake/m", input="again", conversation=conv)
    assert reply.output_text == "echo: again"


def test_original_state_is_imported_and_its_conversation_continues(
    woollama, fake: FakeOpenAI, tmp_path: Path
):
    root = tmp_path / "migrated"
    threads = tmp_path / "threads"
    threads.mkdir()
    (threads / "thread_old.json").write_text(
        json.dumps(
            [{"role": "user", "content": "I like tea"}, {"role": "assistant", "content": "noted"}]
        )
    )
    (root / "state").mkdir(parents=True)
    (root / "state" / "conversations.json").write_text(json.dumps({
        "convs": [{"id": "conv_legacy1", "backend": "store-backed", "model": "fake/m",
                   "native_id": "thread_old", "key": "old-key", "workdir": None,
                   "response_ids": ["resp_legacy1"], "status": "busy", "title": "tea",
                   "metadata": {}, "created_at": 1700000000, "updated_at": 1700000001,
                   "required_action": None, "pending_tool_use_id": None}],
        "resp_to_conv": {"resp_legacy1": "conv_legacy1"}}))  # fmt: skip
    server = woollama(
        root=root,
        mcp=mcp_store(threads),
        inferencers=fake_inferencer(fake),
    )
    server.http().get("/v1/tools", params={"wait": 20})
    assert "imported 1 conversations" in server.log()
    reply = server.client().responses.create(
        model="fake/m", input="what do I like?", previous_response_id="resp_legacy1"
    )
    assert reply.conversation.id == "conv_legacy1"
    assert history_sent(fake)[:2] == [("user", "I like tea"), ("assistant", "noted")]


def test_concurrent_turns_on_one_conversation_run_one_after_the_other(
    woollama, fake: FakeOpenAI, tmp_path: Path
):
    server = woollama(inferencers=fake_inferencer(fake),
                      mcp=mcp_store(tmp_path / "threads"))  # fmt: skip
    server.http().get("/v1/tools", params={"wait": 20})
    conv = server.http().post("/v1/conversations", json={"model": "fake/m"}).json()["id"]
    fake.script(Slow(1.0))  # the first turn is slow; the second must wait for it

    def turn(text: str) -> str:
        return server.client().responses.create(model="fake/m", input=text,
                                                conversation=conv).output_text  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(turn, "first")
        assert fake.wait_requests(1, timeout=20)
        second = pool.submit(turn, "second")
        assert first.result(timeout=30) == "echo: first"
        assert second.result(timeout=30) == "echo: second"
    # The second turn saw the first one's whole exchange: they never overlapped.
    assert history_sent(fake) == [("user", "first"), ("assistant", "echo: first"),
                                  ("user", "second")]  # fmt: skip
