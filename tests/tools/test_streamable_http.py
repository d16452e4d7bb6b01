"""The lean Streamable HTTP transport against real SDK servers on real sockets."""

from __future__ import annotations

import asyncio
import sys

import anyio
import httpx2
import mcp.types as mt
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.harness import start, write_config
from tests.tools.support import (
    HELLO,
    background,
    free_port,
    poll_tools,
    server_health,
    status_is,
)
from woollama.providers.sse import SSEDecoder
from woollama.tools.streamable_http import lean_origin, lean_streamable_http

ERAS = ["legacy", "2026-07-28"]
BOUND = 20.0


def _lean(url: str) -> object:
    origin = lean_origin(url)
    assert origin is not None
    return lean_streamable_http(url, origin)


@pytest.fixture
def hello_url():
    port = free_port()
    with background([sys.executable, str(HELLO), "--http", str(port)],
                    ready=r"Uvicorn running on") as proc:  # fmt: skip
        yield f"http://127.0.0.1:{port}/mcp", proc


def test_https_and_proxied_urls_stay_on_the_sdk_transport(monkeypatch):
    assert lean_origin("https://example.com/mcp") is None
    assert lean_origin("http://127.0.0.1:9/mcp") is not None
    monkeypatch.setenv("http_proxy", "http://proxy:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert lean_origin("http://example.com/mcp") is None


def test_sse_decoder_joins_events_split_anywhere_across_chunks():
    wire = (
        b'id: 7\r\nretry: 250\r\nevent: message\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
        b": ping\n\ndata: x\n\n"
    )
    for size in (1, 2, 3, 7, len(wire)):
        decoder = SSEDecoder()
        events = []
        for i in range(0, len(wire), size):
            events += decoder.feed(wire[i : i + size])
        assert [(e.event, e.data, e.id, e.retry) for e in events] == [
            ("message", '{"a":\n1}', "7", 250),
            ("message", "x", "7", None),  # the last event id stays, as the spec says
        ]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_relays_its_progress_notifications_before_the_result(hello_url, mode):
    url, _ = hello_url
    seen: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(value)

    with anyio.fail_after(BOUND):
        async with Client(_lean(url), mode=mode) as client:
            result = await client.call_tool("count_to", {"n": 3}, progress_callback=progress)
            again = await client.call_tool("hello", {"name": "lean"})
    assert result.structured_content == {"count": 3, "total": 3, "done": True}
    assert seen == [1, 2, 3]
    assert again.content[0].text == "Hello, lean!"


async def test_a_question_the_server_asks_during_a_call_is_answered(hello_url):
    url, _ = hello_url
    asked: list[str] = []

    async def elicit(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"answer": "blue"})

    with anyio.fail_after(BOUND):
        async with Client(_lean(url), mode="legacy", elicitation_callback=elicit) as client:
            result = await client.call_tool("ask_user", {"question": "Favourite colour?"})
    assert asked == ["Favourite colour?"]
    assert "blue" in result.content[0].text


@pytest.mark.parametrize("mode", ERAS)
async def test_a_cancelled_call_is_cancelled_on_the_server(hello_url, mode):
    url, proc = hello_url
    with anyio.fail_after(BOUND):
        async with Client(_lean(url), mode=mode) as client:
            with anyio.move_on_after(0.5):
                await client.call_tool("count_to", {"n": 10000, "delay_ms": 50})
            await asyncio.to_thread(proc.wait_for, r"count_to cancelled after", BOUND)
            # The connection still serves the next call.
            result = await client.call_tool("hello", {"name": "again"})
    assert result.content[0].text == "Hello, again!"


INIT = (
    b'{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}}'
)


async def _serve(on_call: str):
    """A loopback server: a real initialize, then `on_call` for everything after."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import json

        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                method = head.split(b" ")[0]
                message = json.loads(body) if body else {}
                if method == b"POST" and message.get("method") == "initialize":
                    payload = INIT % json.dumps(message["id"]).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"mcp-session-id: s1\r\ncontent-length: %d\r\n\r\n%s"
                                 % (len(payload), payload))  # fmt: skip
                elif method != b"POST" or "id" not in message:
                    status = b"405 Method Not Allowed" if method == b"GET" else b"202 Accepted"
                    writer.write(b"HTTP/1.1 %s\r\ncontent-length: 0\r\n\r\n" % status)
                elif on_call == "404":
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                else:  # drop the connection mid-call
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
                    await writer.drain()
                    writer.transport.abort()
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp"


async def test_an_expired_session_surfaces_as_session_terminated():
    server, url = await _serve("404")
    async with server:
        with anyio.fail_after(BOUND):
            async with Client(_lean(url), mode="legacy") as client:
                with pytest.raises(MCPError, match="Session terminated"):
                    await client.call_tool("anything", {})


async def test_a_connection_dropped_mid_call_fails_the_call_instead_of_hanging():
    server, url = await _serve("drop")
    async with server:
        with anyio.fail_after(BOUND):
            async with Client(_lean(url), mode="legacy") as client:
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("anything", {})
    assert caught.value.code == mt.CONNECTION_CLOSED


async def test_a_server_that_is_not_there_fails_the_connect_promptly():
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with anyio.fail_after(BOUND), pytest.raises(BaseException) as caught:
        async with Client(_lean(url), mode="legacy"):
            pass
    error = caught.value
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, MCPError) and error.code == mt.CONNECTION_CLOSED
    assert "unreachable" in str(error) and "provider" not in str(error)


async def test_woollama_reconnects_to_a_restarted_http_server_and_calls_it(woollama):
    port = free_port()
    args = [sys.executable, str(HELLO), "--http", str(port)]
    with background(args, ready=r"Uvicorn running on"):
        server = woollama(mcp={"mcpServers": {"web": {"url": f"http://127.0.0.1:{port}/mcp"}}})
        await asyncio.to_thread(poll_tools, server, status_is("web", "connected"), "connected")
    await asyncio.to_thread(
        poll_tools, server, status_is("web", "retrying", "failed"), "retrying once it went"
    )
    with background(args, ready=r"Uvicorn running on"):
        body = await asyncio.to_thread(
            poll_tools, server, status_is("web", "connected", min_connects=2), "reconnected"
        )
        assert server_health(body, "web")["connects"] == 2
        with anyio.fail_after(BOUND):
            async with (
                httpx2.AsyncClient() as http,
                Client(
                    streamable_http_client(f"http://{server.address}/mcp", http_client=http)
                ) as client,
            ):
                result = await client.call_tool("web__hello", {"name": "x"})
        assert result.content[0].text == "Hello, x!"


async def test_list_changed_arrives_on_the_standalone_get_stream(tmp_path):
    # woollama's own /mcp is a real SDK server that announces tool changes on the
    # session's GET stream when its config is reloaded.
    config = tmp_path / "config"
    hello = {"command": sys.executable, "args": [str(HELLO)]}
    write_config(config, mcp={"mcpServers": {"a": hello}})
    server = start(tmp_path)
    changed = [anyio.Event()]

    async def on_message(message: object) -> None:
        if isinstance(message, mt.ToolListChangedNotification):
            changed[-1].set()

    try:
        with anyio.fail_after(BOUND):
            url = f"http://{server.address}/mcp"
            async with Client(_lean(url), mode="legacy", message_handler=on_message) as client:
                await client.list_tools()
                write_config(config, mcp={"mcpServers": {"a": hello, "z": hello}})
                names: set[str] = set()
                while "z__hello" not in names:  # one announcement per change, z's own last
                    await changed[-1].wait()
                    changed.append(anyio.Event())
                    names = {t.name for t in (await client.list_tools()).tools}
        assert "z__hello" in names
    finally:
        server.stop()
