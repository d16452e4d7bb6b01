"""The example MCP servers, driven by the real `mcp` SDK client as separate processes."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import DEVNULL, PIPE

import anyio
import mcp.types as types
import pytest
from anyio.abc import ByteReceiveStream
from anyio.streams.text import TextReceiveStream
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELLO = EXAMPLES / "hello.py"
TEXTOPS = EXAMPLES / "textops.py"
TIMEOUT = 20  # seconds per test: spawning Python and importing the SDK dominates
_LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")

Progress = tuple[float, float | None, str | None]
Result = types.CallToolResult


def stdio(script: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(script)])


def text_of(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def scripted_user(
    context: ClientRequestContext, params: types.ElicitRequestParams
) -> types.ElicitResult:
    """Play the user: decline or cancel when the question says so, else answer "blue"."""
    assert isinstance(params, types.ElicitRequestFormParams)
    assert params.requested_schema["required"] == ["answer"]
    for action in ("decline", "cancel"):
        if action in params.message:
            return types.ElicitResult(action=action)
    return types.ElicitResult(action="accept", content={"answer": "blue"})


@asynccontextmanager
async def serving_http(script: Path) -> AsyncIterator[str]:
    """Run `script --http 0` and yield its /mcp URL once uvicorn reports it is listening."""
    # Port 0 lets the OS pick a free port atomically; uvicorn logs the one it bound.
    process = await anyio.open_process(
        [sys.executable, str(script), "--http", "0"], stdin=DEVNULL, stdout=DEVNULL, stderr=PIPE
    )
    assert process.stderr is not None
    try:
        seen = ""
        with anyio.fail_after(TIMEOUT):
            async for chunk in TextReceiveStream(process.stderr):
                seen += chunk
                if match := _LISTENING.search(seen):
                    break
            else:
                raise AssertionError(f"server exited before listening:\n{seen}")
        async with anyio.create_task_group() as tg:
            # Keep reading stderr so per-request logging can never fill the pipe and stall it.
            tg.start_soon(_drain, process.stderr)
            yield f"{match.group(1)}/mcp"
            process.terminate()
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.fail_after(10):
            await process.wait()
        await process.aclose()


async def _drain(stream: ByteReceiveStream) -> None:
    async for _ in stream:
        pass


async def count_with_progress(client: Client, n: int) -> tuple[Result, list[Progress]]:
    seen: list[Progress] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool(
        "count_to", {"n": n, "delay_ms": 1}, progress_callback=on_progress
    )
    return result, seen


def expected_progress(n: int) -> list[Progress]:
    return [(i, n, f"counted {i} of {n}") for i in range(1, n + 1)]


async def test_hello_lists_its_tools_with_count_to_output_schema():
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(HELLO)) as client:
            assert client.server_info is not None and client.server_info.name == "hello"
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"hello", "count_to", "ask_user"}
    assert all(tool.description for tool in tools.values())
    count_to = tools["count_to"]
    assert count_to.output_schema is not None
    assert set(count_to.output_schema["properties"]) == {"count", "total", "done"}
    assert count_to.input_schema["properties"]["n"]["minimum"] == 1
    assert count_to.input_schema["required"] == ["n"]
    assert set(tools["ask_user"].input_schema["properties"]) == {"question"}


async def test_hello_greets_by_name():
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(HELLO)) as client:
            result = await client.call_tool("hello", {"name": "Ada"})
    assert not result.is_error
    assert text_of(result) == "Hello, Ada!"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_count_to_reports_every_step_in_order_and_returns_structured_result(mode):
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(HELLO), mode=mode) as client:
            result, progress = await count_with_progress(client, 5)
    assert not result.is_error
    assert result.structured_content == {"count": 5, "total": 5, "done": True}
    assert progress == expected_progress(5)


async def test_hello_reports_invalid_arguments_as_tool_errors():
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(HELLO)) as client:
            too_small = await client.call_tool("count_to", {"n": 0})
            too_big = await client.call_tool("count_to", {"n": 10001})
            nameless = await client.call_tool("hello", {})
    for result in (too_small, too_big):
        assert result.is_error
        assert "count_to" in text_of(result) and "\nn\n" in text_of(result)
    assert too_small.structured_content is None
    assert nameless.is_error and "name" in text_of(nameless)


# "auto" negotiates 2026-07-28, where the question rides an InputRequiredResult that
# Client.call_tool resolves; "legacy" sends a mid-call elicitation/create request.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_ask_user_returns_the_answer_or_says_the_user_did_not_answer(mode):
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(HELLO), mode=mode, elicitation_callback=scripted_user) as client:
            answered = await client.call_tool("ask_user", {"question": "Favourite colour?"})
            declined = await client.call_tool("ask_user", {"question": "Please decline"})
            cancelled = await client.call_tool("ask_user", {"question": "Please cancel"})
    assert not any(r.is_error for r in (answered, declined, cancelled))
    assert text_of(answered) == "blue"
    assert answered.structured_content == {"result": "blue"}
    assert "declined" in text_of(declined)
    assert "cancelled" in text_of(cancelled)


async def test_ask_user_says_so_when_the_client_cannot_elicit():
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(HELLO)) as client:
            result = await client.call_tool("ask_user", {"question": "Favourite colour?"})
    assert not result.is_error
    assert "does not support" in text_of(result)


async def test_textops_transforms_and_counts_text():
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio(TEXTOPS)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            upper = await client.call_tool("uppercase", {"text": "Hello wool"})
            count = await client.call_tool("word_count", {"text": "  one two\tthree\n"})
            reverse = await client.call_tool("reverse_text", {"text": "llama"})
            bad = await client.call_tool("word_count", {"text": 42})
    assert names == {"uppercase", "word_count", "reverse_text"}
    assert text_of(upper) == "HELLO WOOL"
    assert count.structured_content == {"result": 3}
    assert text_of(count) == "3"
    assert text_of(reverse) == "amall"
    assert bad.is_error and "text" in text_of(bad)


async def test_hello_serves_tools_progress_and_elicitation_over_streamable_http():
    async with serving_http(HELLO) as url:
        with anyio.fail_after(TIMEOUT):
            async with Client(url, elicitation_callback=scripted_user) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                greeting = await client.call_tool("hello", {"name": "web"})
                counted, progress = await count_with_progress(client, 4)
                answer = await client.call_tool("ask_user", {"question": "Transport?"})
    assert names == {"hello", "count_to", "ask_user"}
    assert text_of(greeting) == "Hello, web!"
    assert counted.structured_content == {"count": 4, "total": 4, "done": True}
    assert progress == expected_progress(4)
    assert text_of(answer) == "blue"
