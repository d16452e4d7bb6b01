"""A downstream server talking back during a tool call: log lines, sampling, questions.

The downstream is `tests/tools/peer_servers/asker.py`, a handshake-era server, so its
requests arrive on woollama's connection to it and are routed by the call in flight.
The clients are the real `mcp` SDK client over HTTP and stdio.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import mcp.types as mt
import pytest
from mcp import MCPError

from tests.fakes.openai_backend import Text, ToolCalls
from tests.harness import reset, router_with_fake
from tests.surfaces.mcp.test_server import McpRig, connect

ASKER = str(Path(__file__).resolve().parents[2] / "tools" / "peer_servers" / "asker.py")
RECIPES = """
[recipes.summariser]
inferencer = "fake/m"
system = "You summarise with a tool."
tools = ["opted.summarise"]
"""
LIMIT = 30
# setLevel and sampling are deprecated by 2026-07-28; they are what these tests exercise.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
LEGACY = ["http-legacy", "stdio-legacy"]
BOTH_ERAS = ["http-legacy", "stdio-legacy", "http-auto", "stdio-auto"]
HELLO = str(Path(__file__).resolve().parents[3] / "examples" / "hello.py")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpRig]:
    mcp = {
        "mcpServers": {
            "asker": {"command": sys.executable, "args": [ASKER]},
            "hello": {"command": sys.executable, "args": [HELLO]},  # a 2026-07-28 server
            "modern": {"command": sys.executable, "args": [ASKER, "--both-eras"]},
            "opted": {
                "command": sys.executable,
                "args": [ASKER],
                "sampling": {"model": "fake/m"},
            },
        }
    }
    root = tmp_path_factory.mktemp("peers")
    with router_with_fake(root, recipes=RECIPES, mcp=mcp, env={"WOOLLAMA_TOKEN": "tok"}) as (
        server,
        fake,
    ):
        yield McpRig(server, fake)


def _json(result: mt.CallToolResult) -> dict:
    assert result.is_error is not True, result.content
    return json.loads(result.content[0].text)


# -- logging ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", BOTH_ERAS)
async def test_logging_is_a_declared_capability(rig: McpRig, transport: str):
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            assert client.server_capabilities.logging is not None


@pytest.mark.parametrize("transport", LEGACY)
async def test_downstream_log_lines_reach_the_caller_at_or_above_its_level(
    rig: McpRig, transport: str
):
    lines: list[tuple[str, str | None, str]] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        lines.append((params.level, params.logger, str(params.data)))

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, logging_callback=on_log) as client:
            await client.call_tool("asker__chatty", {})
            everything = list(lines)
            lines.clear()
            await client.set_logging_level("warning")
            await client.call_tool("asker__chatty", {})
    assert [line[2] for line in everything] == ["debug line", "info line", "warning line",
                                                "error line"]  # fmt: skip
    assert lines == [("warning", "asker.chatty", "warning line"),
                     ("error", "asker.chatty", "error line")]  # fmt: skip


@pytest.mark.parametrize("transport", ["http-legacy", "http-auto"])
async def test_log_lines_of_a_modern_server_reach_the_caller(rig: McpRig, transport: str):
    lines: list[tuple[str, str | None]] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        lines.append((str(params.data), params.logger))

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, logging_callback=on_log, log_level="warning") as client:
            if transport == "http-legacy":
                await client.set_logging_level("warning")
            await client.call_tool("modern__chatty", {})
    assert lines == [("warning line", "modern.chatty"), ("error line", "modern.chatty")]


async def test_a_modern_client_gets_the_downstream_lines_it_opted_in_to(rig: McpRig):
    lines: list[str] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        lines.append(str(params.data))

    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto", logging_callback=on_log, log_level="error") as client:
            assert client.protocol_version == "2026-07-28"
            await client.call_tool("asker__chatty", {})
    assert lines == ["error line"]


async def test_the_level_is_remembered_per_session(rig: McpRig):
    quiet: list[str] = []
    loud: list[str] = []

    async def on_quiet(params: mt.LoggingMessageNotificationParams) -> None:
        quiet.append(str(params.data))

    async def on_loud(params: mt.LoggingMessageNotificationParams) -> None:
        loud.append(str(params.data))

    with anyio.fail_after(LIMIT):
        async with (
            connect(rig, "http-legacy", logging_callback=on_quiet) as first,
            connect(rig, "http-legacy", logging_callback=on_loud) as second,
        ):
            await first.set_logging_level("error")
            await first.call_tool("asker__chatty", {})
            await second.call_tool("asker__chatty", {})
    assert quiet == ["error line"]
    assert len(loud) == 4


async def test_chat_log_lines_obey_the_level(rig: McpRig):
    reset(rig.fake).script(
        ToolCalls([("opted__summarise", '{"text": "x"}')]), Text("Brief."), Text("Done.")
    )
    lines: list[str] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        lines.append(str(params.data))

    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-legacy", logging_callback=on_log) as client:
            await client.set_logging_level("error")
            result = await client.call_tool(
                "chat", {"recipe": "summariser", "messages": [{"role": "user", "content": "go"}]}
            )
    assert result.structured_content == {"result": "Done."}
    assert not any("calling opted.summarise" in line for line in lines)


async def test_a_call_parked_on_its_clients_answer_does_not_hide_another_clients_lines(
    rig: McpRig,
):
    # A 2026-07-28 client's call waits on its question; the client does not come back.
    async def answer(context, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        return mt.ElicitResult(action="accept", content={"answer": "unused"})

    lines: list[str] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        lines.append(str(params.data))

    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto", elicitation_callback=answer) as parker:
            parked = await parker.session.call_tool(
                "asker__ask", {"question": "Still there?"}, allow_input_required=True
            )
            assert isinstance(parked, mt.InputRequiredResult)
            async with connect(rig, "http-legacy", logging_callback=on_log) as other:
                await other.call_tool("asker__chatty", {})
            # The parker gives up: its answerless retry ends the downstream call.
            ended = await parker.session.call_tool(
                "asker__ask", {"question": "Still there?"},
                request_state=parked.request_state, input_responses={},
            )  # fmt: skip
    assert lines == ["debug line", "info line", "warning line", "error line"]
    assert _json(ended) == {"action": "decline", "content": None}


def test_log_lines_outside_any_call_go_to_woollamas_log(rig: McpRig):
    # Said when woollama's connection to it opened, a moment after start-up.
    give_up = time.monotonic() + LIMIT
    while "asker is ready" not in rig.server.log() and time.monotonic() < give_up:
        time.sleep(0.05)
    assert "MCP server asker.asker [notice]: asker is ready" in rig.server.log()


# -- sampling --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", BOTH_ERAS)
async def test_sampling_is_forwarded_to_a_client_that_can_sample(rig: McpRig, transport: str):
    asked: list[mt.CreateMessageRequestParams] = []

    async def sample(context, params: mt.CreateMessageRequestParams) -> mt.CreateMessageResult:
        asked.append(params)
        return mt.CreateMessageResult(
            role="assistant", content=mt.TextContent(type="text", text="Brief."),
            model="client-model", stop_reason="endTurn",
        )  # fmt: skip

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, sampling_callback=sample) as client:
            # Even for a server that opted in: a client that can sample comes first.
            result = await client.call_tool("opted__summarise", {"text": "a long story"})
    got = _json(result)
    assert got["model"] == "client-model"
    assert got["content"] == [{"type": "text", "text": "Brief."}]
    assert asked[0].system_prompt == "Summarise in one word."
    assert asked[0].messages[0].content.text == "a long story"


async def test_sampling_without_a_capable_client_or_opt_in_is_refused_clearly(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-legacy") as client:
            result = await client.call_tool("asker__summarise", {"text": "a long story"})
    assert result.is_error is True
    text = result.content[0].text
    assert "did not declare the sampling capability" in text
    assert '"sampling": {"model": "<provider>/<model>"}' in text and "mcp.json" in text


@pytest.mark.parametrize("transport", ["http-auto", "stdio-auto"])
async def test_a_modern_client_without_sampling_is_refused_with_missing_capability(
    rig: McpRig, transport: str
):
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:
            assert client.protocol_version == "2026-07-28"
            with pytest.raises(MCPError) as refused:
                await client.call_tool("asker__summarise", {"text": "a long story"})
    assert refused.value.code == mt.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert refused.value.error.data == {"requiredCapabilities": {"sampling": {}}}


@pytest.mark.parametrize("transport", ["http-legacy", "http-auto", "stdio-auto"])
async def test_woollama_samples_itself_for_a_server_that_opted_in(rig: McpRig, transport: str):
    reset(rig.fake)
    with anyio.fail_after(LIMIT):
        async with connect(rig, transport) as client:  # no sampling capability
            result = await client.call_tool(
                "opted__summarise", {"text": "a long story", "max_tokens": 7}
            )
    got = _json(result)
    assert got == {"model": "fake/m", "stop_reason": "endTurn",
                   "content": [{"type": "text", "text": "echo: a long story"}]}  # fmt: skip
    body = rig.fake.requests[-1].body
    assert body["model"] == "m" and body["max_tokens"] == 7
    assert body["messages"][0] == {"role": "system", "content": "Summarise in one word."}


async def test_a_model_hint_woollama_can_route_is_honoured(rig: McpRig):
    reset(rig.fake)
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto") as client:
            routable = _json(await client.call_tool(
                "opted__summarise", {"text": "x", "hint": "fake/other"}))  # fmt: skip
            unknown = _json(await client.call_tool(
                "opted__summarise", {"text": "x", "hint": "gpt-9"}))  # fmt: skip
    assert routable["model"] == "fake/other"
    assert unknown["model"] == "fake/m"


async def test_sampling_tools_reach_the_model_and_its_tool_use_comes_back(rig: McpRig):
    reset(rig.fake).script(ToolCalls([("lookup", '{"word": "story"}')]))
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto") as client:
            got = _json(await client.call_tool(
                "opted__summarise", {"text": "x", "with_tool": True}))  # fmt: skip
    assert rig.fake.requests[-1].body["tools"][0]["function"]["name"] == "lookup"
    assert got["stop_reason"] == "toolUse"
    assert got["content"][0]["type"] == "tool_use"
    assert got["content"][0]["name"] == "lookup" and got["content"][0]["input"] == {"word": "story"}


def test_a_recipe_from_the_openai_surface_gets_sampling_answered_by_woollama(rig: McpRig):
    reset(rig.fake).script(
        ToolCalls([("opted__summarise", '{"text": "tale"}')]), Text("Brief."), Text("Done.")
    )
    reply = rig.server.client(api_key="tok").chat.completions.create(
        model="woollama/summariser", messages=[{"role": "user", "content": "go"}]
    )
    assert reply.choices[0].message.content == "Done."
    sampled = [r.body for r in rig.fake.requests if r.body and r.body.get("max_tokens") == 16]
    assert sampled and sampled[0]["messages"][-1] == {"role": "user", "content": "tale"}
    tool_turn = rig.fake.requests[-1].body["messages"][-1]
    assert tool_turn["role"] == "tool" and "Brief." in tool_turn["content"]


# -- elicitation -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", BOTH_ERAS)
async def test_questions_of_a_handshake_era_server_reach_the_calling_client(
    rig: McpRig, transport: str
):
    asked: list[str] = []

    async def answer(context, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"answer": "Paris"})

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, elicitation_callback=answer) as client:
            result = await client.call_tool("asker__ask", {"question": "Which city?"})
    assert asked == ["Which city?"]
    assert _json(result) == {"action": "accept", "content": {"answer": "Paris"}}


@pytest.mark.parametrize("transport", BOTH_ERAS)
async def test_a_servers_roots_request_reaches_the_calling_client(rig: McpRig, transport: str):
    async def roots(context) -> mt.ListRootsResult:
        return mt.ListRootsResult(roots=[mt.Root(uri="file:///work/project", name="project")])

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, list_roots_callback=roots) as client:
            result = await client.call_tool("asker__roots", {})
    assert json.loads(result.content[0].text) == ["file:///work/project"]


async def test_a_roots_request_for_a_client_without_roots_is_refused(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-legacy") as client:
            result = await client.call_tool("asker__roots", {})
    assert result.is_error is True and "roots refused" in result.content[0].text


async def test_questions_are_declined_when_the_caller_cannot_answer(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-legacy") as client:
            result = await client.call_tool("asker__ask", {"question": "Which city?"})
    assert _json(result) == {"action": "decline", "content": None}


@pytest.mark.parametrize("transport", ["http-auto", "stdio-auto"])
async def test_questions_of_a_modern_server_reach_a_modern_client(rig: McpRig, transport: str):
    async def answer(context, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        return mt.ElicitResult(action="accept", content={"answer": "Lyon"})

    with anyio.fail_after(LIMIT):
        async with connect(rig, transport, elicitation_callback=answer) as client:
            assert client.protocol_version == "2026-07-28"
            result = await client.call_tool("hello__ask_user", {"question": "Which city?"})
    assert result.content[0].text == "Lyon"


async def test_two_questions_in_one_call_take_two_rounds_for_a_modern_client(rig: McpRig):
    asked: list[str] = []

    async def answer(context, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"answer": f"answer {len(asked)}"})

    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto", elicitation_callback=answer) as client:
            got = _json(await client.call_tool("asker__ask", {"question": "One?", "again": True}))
    assert asked == ["One?", "And again?"]
    assert got["content"] == {"answer": "answer 1"} and got["again"] == {"answer": "answer 2"}


async def test_a_stale_request_state_is_refused(rig: McpRig):
    with anyio.fail_after(LIMIT):
        async with connect(rig, "http-auto") as client:
            with pytest.raises(MCPError, match="requestState is unknown or expired"):
                await client.session.call_tool(
                    "asker__ask", {"question": "x"}, request_state="made-up"
                )


async def test_a_call_that_could_take_rounds_still_forwards_progress_and_cancels(rig: McpRig):
    # A 2026-07-28 client that can answer questions: its call runs in a task of its own.
    started = anyio.Event()

    async def answer(context, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        return mt.ElicitResult(action="decline")

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    with anyio.fail_after(LIMIT):
        async with (
            connect(rig, "http-auto", elicitation_callback=answer) as client,
            anyio.create_task_group() as tg,
        ):

            async def count() -> None:
                await client.call_tool("hello__count_to", {"n": 1000, "delay_ms": 50},
                                       progress_callback=on_progress)  # fmt: skip

            tg.start_soon(count)
            await started.wait()
            tg.cancel_scope.cancel()
        # The downstream server says so on the stderr woollama shares with it.
        for _ in range(400):
            if "count_to cancelled" in rig.server.log():
                break
            await anyio.sleep(0.05)
    assert "count_to cancelled" in rig.server.log()
