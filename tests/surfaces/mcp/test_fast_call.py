"""Plain `tools/call`s on `/mcp` take the fast path and answer as the SDK would.

A real woollama (run with `-v`, so its log says when a call took the fast path) with the
bundled hello and textops servers, and the real `mcp` SDK client in both eras (`legacy`,
the handshake era; `auto`, which speaks 2026-07-28 to woollama): the calls with a
progress token stay on the SDK path, so they are the reference the fast path's answers
are compared with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import mcp.types as mt
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.harness import STARTUP_TIMEOUT, Woollama, base_env, read_line, spawn, write_config

LIMIT = 30
FAST = "answered on the fast path"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("fast")
    write_config(root / "config")
    env = base_env(root, {"WOOLLAMA_TOKEN": "tok"})
    proc, log_path = spawn(root, env, "-v")
    server = Woollama(proc, root / "config", root / "run", log_path, env=env)
    server.banner = read_line(proc, STARTUP_TIMEOUT)
    assert "listening" in server.banner, server.log()
    server.address = server.address_file.read_text().strip()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def http(server: Woollama, mode: str, query: str = "") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer tok"}) as http,
        Client(
            streamable_http_client(f"http://{server.address}/mcp{query}", http_client=http),
            mode=mode,
        ) as client,
    ):
        await client.list_tools()
        yield client


def fast_count(server: Woollama, tool: str) -> int:
    return server.log().count(f"tools/call {tool} {FAST}")


async def ignore(value: float, total: float | None, message: str | None) -> None:
    return None


async def both(
    server: Woollama, tool: str, arguments: dict, query: str = "", mode: str = "legacy"
) -> list:
    """The same call without a progress token (fast path) and with one (the SDK's)."""
    answers = []
    async with http(server, mode, query) as client:
        for progress in (None, ignore):
            try:
                result = await client.call_tool(tool, arguments, progress_callback=progress)
                answers.append(result.model_dump())
            except MCPError as exc:
                answers.append((exc.error.code, exc.error.message))
    return answers


ERAS = pytest.mark.parametrize("mode", ["legacy", "auto"])


@ERAS
async def test_a_plain_call_takes_the_fast_path_and_answers_as_the_sdk_does(
    server: Woollama, mode: str
):
    before = fast_count(server, "textops.word_count")
    with anyio.fail_after(LIMIT):
        fast, sdk = await both(server, "textops__word_count", {"text": "one two three"}, mode=mode)
    assert fast_count(server, "textops.word_count") == before + 1
    assert fast == sdk
    assert fast["structured_content"] == {"result": 3}


@ERAS
async def test_a_failing_tool_answers_the_same_error_result_on_both_paths(
    server: Woollama, mode: str
):
    with anyio.fail_after(LIMIT):
        fast, sdk = await both(server, "hello__count_to", {"n": 0}, mode=mode)
    assert fast == sdk
    assert fast["is_error"] is True


@ERAS
async def test_an_unknown_tool_gets_the_same_protocol_error(server: Woollama, mode: str):
    with anyio.fail_after(LIMIT):
        fast, sdk = await both(server, "nowhere__nothing", {}, mode=mode)
    assert fast == sdk
    assert "unknown tool" in fast[1]


@ERAS
async def test_an_out_of_scope_tool_is_refused_the_same_way(server: Woollama, mode: str):
    with anyio.fail_after(LIMIT):
        fast, sdk = await both(server, "hello__hello", {"name": "x"}, "?servers=textops", mode)
    assert fast == sdk
    assert fast["is_error"] is True and "outside what this client asked for" in str(fast)


async def test_a_modern_question_to_a_client_that_cannot_answer_is_declined_on_both_paths(
    server: Woollama,
):
    before = fast_count(server, "hello.ask_user")
    with anyio.fail_after(LIMIT):
        fast, sdk = await both(server, "hello__ask_user", {"question": "Why?"}, mode="auto")
    assert fast_count(server, "hello.ask_user") == before + 1
    assert fast == sdk
    assert "declined" in str(fast)


async def test_a_modern_call_with_mismatched_routing_headers_is_refused_by_the_sdk(
    server: Woollama,
):
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "textops__word_count",
            "arguments": {"text": "a b"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "Authorization": "Bearer tok",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "textops__uppercase",  # not the tool the body calls
    }
    before = fast_count(server, "textops.word_count")
    with anyio.fail_after(LIMIT):
        async with httpx2.AsyncClient() as client:
            answer = await client.post(f"http://{server.address}/mcp", json=body, headers=headers)
            headers["Mcp-Name"] = "textops__word_count"
            plain = await client.post(f"http://{server.address}/mcp", json=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == mt.HEADER_MISMATCH
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.json()["result"]["structuredContent"] == {"result": 2}
    assert plain.json()["result"]["resultType"] == "complete"
    assert fast_count(server, "textops.word_count") == before + 1


async def test_a_silent_handshake_era_call_is_answered_json_on_a_kept_connection(
    server: Woollama,
):
    url = f"http://{server.address}/mcp"
    headers = {"Authorization": "Bearer tok", "Accept": "application/json, text/event-stream"}
    hello = {"protocolVersion": "2025-11-25", "capabilities": {},
             "clientInfo": {"name": "raw", "version": "1"}}  # fmt: skip
    before = fast_count(server, "textops.word_count")
    with anyio.fail_after(LIMIT):
        async with httpx2.AsyncClient(headers=headers) as client:
            opened = await client.post(
                url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}
            )
            headers = {"mcp-session-id": opened.headers["mcp-session-id"],
                       "mcp-protocol-version": "2025-11-25"}  # fmt: skip
            await client.post(
                url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
            )
            listed = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            await client.post(url, json=listed, headers=headers)  # as the SDK's client does
            answers = []
            for n, text in enumerate(("a b", "a b c")):
                params = {"name": "textops__word_count", "arguments": {"text": text}}
                call = {"jsonrpc": "2.0", "id": n + 2, "method": "tools/call", "params": params}
                answers.append(await client.post(url, json=call, headers=headers))
    assert fast_count(server, "textops.word_count") == before + 2
    for answer, words in zip(answers, (2, 3), strict=True):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["mcp-session-id"] == headers["mcp-session-id"]
        assert answer.json()["result"]["structuredContent"] == {"result": words}


async def test_a_call_with_a_progress_token_relays_progress(server: Woollama):
    seen: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(value)

    with anyio.fail_after(LIMIT):
        async with http(server, "legacy") as client:
            result = await client.call_tool(
                "hello__count_to", {"n": 3}, progress_callback=on_progress
            )
    assert result.structured_content == {"count": 3, "total": 3, "done": True}
    assert seen == [1, 2, 3]


@ERAS
async def test_a_cancelled_fast_call_is_cancelled_downstream(server: Woollama, mode: str):
    before = fast_count(server, "hello.count_to")
    cancelled = server.log().count("count_to cancelled")
    with anyio.fail_after(LIMIT):
        async with http(server, mode) as client, anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "hello__count_to", {"n": 1000, "delay_ms": 50})
            for _ in range(1000):  # bounded: until woollama says the call took the fast path
                if fast_count(server, "hello.count_to") > before:
                    break
                await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
        for _ in range(1000):  # the downstream says so on the stderr woollama shares with it
            if server.log().count("count_to cancelled") > cancelled:
                break
            await anyio.sleep(0.02)
    assert fast_count(server, "hello.count_to") == before + 1
    assert server.log().count("count_to cancelled") == cancelled + 1


async def test_a_client_that_can_sample_stays_on_the_sdk_path(server: Woollama):
    async def sample(
        context: object, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult:
        raise AssertionError("nothing here samples")

    before = fast_count(server, "textops.uppercase")
    with anyio.fail_after(LIMIT):
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer tok"}) as http_client,
            Client(
                streamable_http_client(f"http://{server.address}/mcp", http_client=http_client),
                mode="legacy",
                sampling_callback=sample,
            ) as client,
        ):
            await client.list_tools()
            result = await client.call_tool("textops__uppercase", {"text": "ab"})
    assert result.structured_content == {"result": "AB"}
    assert fast_count(server, "textops.uppercase") == before
