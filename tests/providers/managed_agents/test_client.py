"""The Managed Agents client against a loopback fake of the API."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import anyio
import pytest

from tests.fakes.managed_agents_backend import BETA, FakeManagedAgents
from woollama.errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BadRequest,
    Conflict,
    NotFound,
    UpstreamError,
)
from woollama.providers.managed_agents.client import AgentTurn, ManagedAgentsClient

KEY = "sk-ant-test"
WAIT = 10  # seconds any one test may spend talking to the fake


@pytest.fixture
def fake() -> Iterator[FakeManagedAgents]:
    with FakeManagedAgents(api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(fake: FakeManagedAgents) -> AsyncIterator[ManagedAgentsClient]:
    agents = ManagedAgentsClient(base_url=fake.base_url, env={"ANTHROPIC_API_KEY": KEY})
    yield agents
    await agents.aclose()


async def test_a_session_remembers_earlier_turns(client: ManagedAgentsClient):
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5", system="Be brief.")
        first = await client.send(session, "a")
        second = await client.send(session, "b")
    assert first == AgentTurn("agent heard: a", "completed", None, None, first.usage)
    assert second.text == "agent heard: b (earlier: a)"
    assert second.status == "completed"
    assert second.usage["input_tokens"] > 0 and second.usage["output_tokens"] > 0


async def test_transcript_lists_every_turn_in_order_across_pages(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    fake.page_size = 2  # forces several pages
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        await client.send(session, "a")
        await client.send(session, "b")
        transcript = await client.transcript(session)
    assert transcript == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "agent heard: a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "agent heard: b (earlier: a)"},
    ]
    assert len(fake.requests_to("GET", r"/v1/sessions/[^/]+/events")) > 1


async def test_ask_user_pauses_the_session_until_answered(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    fake.script_ask("Which city?", text="One moment.")
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        paused = await client.send(session, "book a trip")
        assert paused.status == "requires_action"
        assert paused.question == "Which city?"
        assert paused.text == "One moment."
        assert paused.tool_use_id
        done = await client.answer(session, paused.tool_use_id, "Paris")
        transcript = await client.transcript(session)
    assert (done.status, done.text, done.question, done.tool_use_id) == (
        "completed",
        "thanks for: Paris",
        None,
        None,
    )
    assert transcript == [
        {"role": "user", "content": "book a trip"},
        {"role": "assistant", "content": "One moment.\n\nWhich city?"},
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": "thanks for: Paris"},
    ]


async def test_concurrent_answers_resolve_the_question_exactly_once(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    fake.script_ask("Which city?")
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        paused = await client.send(session, "book a trip")
        assert paused.tool_use_id
        results = await asyncio.gather(
            client.answer(session, paused.tool_use_id, "Paris"),
            client.answer(session, paused.tool_use_id, "Rome"),
            return_exceptions=True,
        )
    turns = [r for r in results if isinstance(r, AgentTurn)]
    refused = [r for r in results if isinstance(r, (Conflict, BadRequest))]
    assert len(turns) == 1 and len(refused) == 1, results
    assert turns[0].text in ("thanks for: Paris", "thanks for: Rome")


async def test_answering_a_resolved_question_again_is_refused(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    fake.script_ask("Which city?")
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        paused = await client.send(session, "book a trip")
        assert paused.tool_use_id
        await client.answer(session, paused.tool_use_id, "Paris")
        with pytest.raises(BadRequest, match="already answered"):
            await client.answer(session, paused.tool_use_id, "Rome")
        with pytest.raises(BadRequest, match="not a pending"):
            await client.answer(session, "sevt_unknown", "Rome")


async def test_a_deleted_session_is_not_found(client: ManagedAgentsClient):
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        await client.send(session, "a")
        await client.delete(session)
        with pytest.raises(NotFound):
            await client.send(session, "b")
        with pytest.raises(NotFound):
            await client.transcript(session)
        with pytest.raises(NotFound):
            await client.delete(session)


async def test_an_overloaded_api_makes_the_backend_busy(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        fake.script_error(529, "overloaded_error", "Overloaded")
        with pytest.raises(BackendBusy, match="Overloaded"):
            await client.send(session, "a")
        # The failure was transient: the same session still works.
        assert (await client.send(session, "b")).text == "agent heard: b"


@pytest.mark.parametrize(
    ("status", "kind", "expected", "relayed"),
    [
        (400, "invalid_request_error", BadRequest, 400),
        (401, "authentication_error", UpstreamError, 401),
        (403, "permission_error", UpstreamError, 403),
        (404, "not_found_error", NotFound, 404),
        (409, "conflict_error", Conflict, 409),
        (429, "rate_limit_error", UpstreamError, 429),
        (500, "api_error", BackendError, 502),
    ],
)
async def test_api_errors_become_woollama_errors_with_their_message(
    fake: FakeManagedAgents,
    client: ManagedAgentsClient,
    status: int,
    kind: str,
    expected: type[Exception],
    relayed: int,
):
    fake.script_error(status, kind, "scripted failure")
    with anyio.fail_after(WAIT), pytest.raises(expected, match="scripted failure") as info:
        await client.create_session("claude-opus-5")
    assert info.value.status == relayed


async def test_a_missing_key_is_a_bad_request_naming_the_variable(fake: FakeManagedAgents):
    agents = ManagedAgentsClient(base_url=fake.base_url, env={})
    try:
        with pytest.raises(BadRequest, match="ANTHROPIC_API_KEY"):
            await agents.create_session("claude-opus-5")
        with pytest.raises(BadRequest, match="ANTHROPIC_API_KEY"):
            await agents.send("sesn_x", "a")
    finally:
        await agents.aclose()
    assert fake.requests == []


async def test_every_request_carries_key_version_and_beta_headers(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    with anyio.fail_after(WAIT):
        session = await client.create_session("claude-opus-5")
        await client.send(session, "a")
        await client.transcript(session)
        await client.delete(session)
    assert len(fake.requests) >= 7
    for request in fake.requests:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert BETA in request.headers["anthropic-beta"].split(",")


async def test_sessions_reuse_one_agent_holding_the_model_system_and_ask_user_tool(
    fake: FakeManagedAgents, client: ManagedAgentsClient
):
    extra = {"name": "lookup", "description": "Look a word up", "input_schema": {"type": "object"}}
    with anyio.fail_after(WAIT):
        first = await client.create_session(
            "claude-opus-5", system="Be brief.", metadata={"conv": "conv_1"}, tools=[extra]
        )
        second = await client.create_session("claude-opus-5", system="Be brief.", tools=[extra])
    assert first != second
    [agent] = fake.requests_to("POST", "/v1/agents")
    assert len(fake.requests_to("POST", "/v1/environments")) == 1
    assert agent.body["model"] == "claude-opus-5"
    assert agent.body["system"] == "Be brief."
    ask_user, lookup = agent.body["tools"]
    assert ask_user == {
        "type": "custom",
        "name": "ask_user",
        "description": "Ask the user a question and wait for the answer",
        "input_schema": {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
    }
    assert lookup == {"type": "custom", **extra}
    created = fake.requests_to("POST", "/v1/sessions")[0].body
    assert created["metadata"] == {"conv": "conv_1"}
    assert created["agent"].startswith("agent_") and created["environment_id"].startswith("env_")


async def test_a_turn_that_never_finishes_times_out(fake: FakeManagedAgents):
    agents = ManagedAgentsClient(base_url=fake.base_url, env={"ANTHROPIC_API_KEY": KEY}, timeout=1)
    try:
        with anyio.fail_after(WAIT):
            session = await agents.create_session("claude-opus-5")
            fake.script_stall()
            with pytest.raises(BackendTimeout, match="did not finish"):
                await agents.send(session, "a")
    finally:
        await agents.aclose()


async def test_an_unreachable_api_is_a_backend_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens
    agents = ManagedAgentsClient(
        base_url=f"http://127.0.0.1:{port}", env={"ANTHROPIC_API_KEY": KEY}
    )
    try:
        with anyio.fail_after(WAIT), pytest.raises(BackendError, match="unreachable"):
            await agents.create_session("claude-opus-5")
    finally:
        await agents.aclose()


async def test_the_fake_rejects_requests_without_the_beta_header(fake: FakeManagedAgents):
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/v1/agents", json={}, headers=headers) as response,
    ):
        body = await response.json()
    assert response.status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert BETA in body["error"]["message"]
