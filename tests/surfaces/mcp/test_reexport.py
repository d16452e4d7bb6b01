"""Downstream prompts, resources, templates, completions and subscriptions through
woollama's MCP surface, with the real `mcp` SDK client, in both eras.

Behind woollama: server-everything (npm, a handshake-era server with every feature),
and the `notes` fixture (Python, 2026-07-28) twice, both `"namespace": false`, so the
second one's names clash and keep their prefix.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import mcp.types as mt
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.openai_backend import Text, ToolCalls
from tests.harness import Woollama, router_with_fake
from tests.tools.test_public_servers import everything_script, node

LIMIT = 30
NOTES = Path(__file__).resolve().parents[2] / "tools" / "catalog_servers" / "notes.py"
DOC = "everything+demo://resource/static/document/architecture.md"
RECIPES = """
[recipes.simple]
description = "uses an unprefixed tool"
inferencer = "fake/m"
system = "Answer with the tool."
tools = ["notes.test_simple_text"]
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Woollama, object]]:
    servers = {
        "everything": {"command": node(), "args": [str(everything_script()), "stdio"]},
        "notes": {"command": sys.executable, "args": [str(NOTES)], "namespace": False},
        "notes2": {
            "command": sys.executable,
            "args": [str(NOTES), "--no-subscriptions"],
            "namespace": False,
        },
    }
    root = tmp_path_factory.mktemp("reexport")
    with router_with_fake(root, recipes=RECIPES, mcp={"mcpServers": servers}) as pair:
        yield pair


@pytest.fixture
def server(rig) -> Woollama:
    return rig[0]


@asynccontextmanager
async def connect(server: Woollama, transport: str, **kwargs) -> AsyncIterator[Client]:
    kind, mode = transport.split("-")
    if kind == "stdio":
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "woollama", "mcp"], env=server.env
        )
        async with Client(params, mode=mode, **kwargs) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient() as http,
        Client(
            streamable_http_client(f"http://{server.address}/mcp", http_client=http),
            mode=mode,
            **kwargs,
        ) as client,
    ):
        yield client


BOTH_ERAS = ["http-auto", "http-legacy", "stdio-legacy"]


@pytest.mark.parametrize("transport", BOTH_ERAS)
async def test_downstream_prompts_are_listed_next_to_recipes_and_got_from_their_server(
    server: Woollama, transport: str
):
    with anyio.fail_after(LIMIT):
        async with connect(server, transport) as client:
            names = {p.name for p in (await client.list_prompts()).prompts}
            got = await client.get_prompt("everything__args-prompt", {"city": "Lisbon"})
            plain = await client.get_prompt("city_question", {"city": "Oslo"})
    assert {"simple", "everything__simple-prompt", "everything__args-prompt"} <= names
    assert {"city_question", "notes2__city_question"} <= names  # the later one kept its prefix
    assert "Lisbon" in got.messages[0].content.text
    assert plain.messages[0].content.text == "What is worth seeing in Oslo?"


@pytest.mark.parametrize("transport", BOTH_ERAS)
async def test_downstream_resources_and_templates_keep_recognisable_uris(
    server: Woollama, transport: str
):
    with anyio.fail_after(LIMIT):
        async with connect(server, transport) as client:
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            templates = {
                t.uri_template for t in (await client.list_resource_templates()).resource_templates
            }
            doc = await client.read_resource(DOC)
            dynamic = await client.read_resource("everything+demo://resource/dynamic/text/3")
            static = await client.read_resource("test://static-text")
            item = await client.read_resource("test://items/7")
            item2 = await client.read_resource("notes2+test://items/8")
    assert {"woollama://models", "woollama://tools", "woollama://recipes/simple"} <= uris
    assert {DOC, "test://static-text", "notes2+test://static-text"} <= uris
    assert {
        "woollama://recipes/{name}",
        "everything+demo://resource/dynamic/text/{resourceId}",
        "test://items/{item}",
        "notes2+test://items/{item}",
    } <= templates
    assert doc.contents[0].uri == DOC and doc.contents[0].text
    assert dynamic.contents[0].uri == "everything+demo://resource/dynamic/text/3"
    assert static.contents[0].text == "This is the content of the static text resource."
    assert (item.contents[0].uri, item.contents[0].text) == ("test://items/7", "item 7")
    assert (item2.contents[0].uri, item2.contents[0].text) == ("notes2+test://items/8", "item 8")


@pytest.mark.parametrize("transport", ["http-auto", "stdio-legacy"])
async def test_completions_are_answered_by_the_owning_server(server: Woollama, transport: str):
    with anyio.fail_after(LIMIT):
        async with connect(server, transport) as client:
            department = await client.complete(
                mt.PromptReference(type="ref/prompt", name="everything__completable-prompt"),
                {"name": "department", "value": "Eng"},
            )
            city = await client.complete(
                mt.PromptReference(type="ref/prompt", name="city_question"),
                {"name": "city", "value": "P"},
            )
            item = await client.complete(
                mt.ResourceTemplateReference(type="ref/resource", uri="notes2+test://items/{item}"),
                {"name": "item", "value": "a"},
            )
            recipe = await client.complete(
                mt.PromptReference(type="ref/prompt", name="simple"), {"name": "x", "value": ""}
            )
    assert department.completion.values == ["Engineering"]
    assert city.completion.values == ["Paris", "Porto", "Prague"]
    assert item.completion.values == ["a1", "a2"]
    assert recipe.completion.values == []


@pytest.mark.parametrize("transport", ["http-auto", "http-legacy"])
@pytest.mark.parametrize(
    "uri", ["everything+demo://resource/nope", "test://nowhere", "woollama://nope", "x://y"]
)
async def test_an_unknown_resource_is_an_error_naming_its_uri(
    server: Woollama, transport: str, uri: str
):
    with anyio.fail_after(LIMIT):
        async with connect(server, transport) as client:
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
    assert caught.value.error.code == mt.INVALID_PARAMS
    assert caught.value.error.data == {"uri": uri}


@pytest.mark.parametrize("transport", ["http-legacy", "stdio-legacy"])
async def test_a_subscribed_resource_update_reaches_handshake_era_clients(
    server: Woollama, transport: str
):
    uri = "everything+demo://resource/dynamic/text/1"
    updated = anyio.Event()
    heard: list[str] = []

    async def on_message(message) -> None:
        if isinstance(message, mt.ResourceUpdatedNotification):
            heard.append(message.params.uri)
            updated.set()

    with warnings.catch_warnings(), anyio.fail_after(LIMIT):
        warnings.simplefilter("ignore")  # resources/subscribe is deprecated in 2026-07-28
        async with connect(server, transport, message_handler=on_message) as client:
            await client.subscribe_resource(uri)
            # server-everything sends an update for each subscribed URI at once, then every 5s.
            await client.call_tool("everything__toggle-subscriber-updates", {})
            await updated.wait()
            await client.call_tool("everything__toggle-subscriber-updates", {})
            await client.unsubscribe_resource(uri)
    assert heard[0] == uri


async def test_a_listen_stream_hears_updates_of_the_resources_it_names(server: Woollama):
    uri = "everything+demo://resource/dynamic/text/2"
    with anyio.fail_after(LIMIT):
        async with (
            connect(server, "http-auto") as client,
            client.listen(resource_subscriptions=[uri, "notes2+test://static-text"]) as events,
            connect(server, "http-legacy") as toggler,
        ):
            # notes2 cannot subscribe: the acknowledgment leaves its URI out.
            assert events.honored.resource_subscriptions == [uri]
            await toggler.call_tool("everything__toggle-subscriber-updates", {})
            try:
                event = await events.__anext__()
            finally:
                await toggler.call_tool("everything__toggle-subscriber-updates", {})
    assert getattr(event, "uri", None) == uri


@pytest.mark.parametrize("transport", ["http-legacy", "http-auto"])
async def test_a_modern_servers_resource_update_reaches_subscribers_in_both_eras(
    server: Woollama, transport: str
):
    uri = "test://static-text"
    heard = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, mt.ResourceUpdatedNotification) and message.params.uri == uri:
            heard.set()

    with warnings.catch_warnings(), anyio.fail_after(LIMIT):
        warnings.simplefilter("ignore")
        async with connect(server, transport, message_handler=on_message) as client:
            if transport == "http-legacy":
                await client.subscribe_resource(uri)
                await client.call_tool("touch", {"uri": uri})
                await heard.wait()
                await client.unsubscribe_resource(uri)
                return
            async with client.listen(resource_subscriptions=[uri]) as events:
                await client.call_tool("touch", {"uri": uri})
                event = await events.__anext__()
            assert getattr(event, "uri", None) == uri


async def test_subscribing_where_the_server_cannot_is_refused(server: Woollama):
    with warnings.catch_warnings(), anyio.fail_after(LIMIT):
        warnings.simplefilter("ignore")
        async with connect(server, "http-legacy") as client:
            with pytest.raises(MCPError) as refused:
                await client.subscribe_resource("notes2+test://static-text")
            with pytest.raises(MCPError) as unknown:
                await client.subscribe_resource("x://y")
    assert "subscriptions" in refused.value.error.message
    assert unknown.value.error.data == {"uri": "x://y"}


async def test_a_handshake_era_servers_new_resource_is_announced_and_listed(server: Woollama):
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, mt.ResourceListChangedNotification):
            changed.set()

    with anyio.fail_after(LIMIT):
        async with connect(server, "http-legacy", message_handler=on_message) as client:
            await client.list_resources()  # a client that has listed hears of changes
            await client.call_tool(
                "everything__gzip-file-as-resource",
                {
                    "name": "greeting.gz",
                    "data": "data:text/plain,hello",
                    "outputType": "resourceLink",
                },
            )
            await changed.wait()
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "everything+demo://resource/session/greeting.gz" in uris


async def test_a_modern_servers_new_resource_is_announced_on_listen_streams(server: Woollama):
    with anyio.fail_after(LIMIT):
        async with (
            connect(server, "http-auto") as client,
            client.listen(resources_list_changed=True) as events,
        ):
            await client.call_tool("test_simple_text", {})
            await client.call_tool("add_note", {"title": "todo", "text": "buy milk"})
            event = await events.__anext__()
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            note = await client.read_resource("notes://todo")
    assert type(event).__name__ == "ResourcesListChanged"
    assert "notes://todo" in uris and "notes2+notes://todo" not in uris
    assert note.contents[0].text == "buy milk"


@pytest.mark.parametrize("transport", ["http-auto", "http-legacy", "stdio-auto"])
async def test_capabilities_say_what_is_served(server: Woollama, transport: str):
    with anyio.fail_after(LIMIT):
        async with connect(server, transport) as client:
            caps = client.server_capabilities
            era = client.protocol_version
    assert (era == "2026-07-28") == transport.endswith("auto")  # discover, or initialize
    assert caps.prompts is not None and caps.prompts.list_changed is True
    assert caps.resources is not None
    assert caps.resources.subscribe is True and caps.resources.list_changed is True
    assert caps.tools is not None and caps.tools.list_changed is True
    assert caps.completions is not None


async def test_unprefixed_tools_are_listed_called_and_allowed_to_recipes(rig):
    server, fake = rig
    fake.script(ToolCalls([("test_simple_text", "{}")]), Text("It said hello."))
    with anyio.fail_after(LIMIT):
        async with connect(server, "http-auto") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            direct = await client.call_tool("test_simple_text", {})
            chat = await client.call_tool(
                "chat", {"recipe": "simple", "messages": [{"role": "user", "content": "go"}]}
            )
    assert {"test_simple_text", "notes2__test_simple_text", "everything__echo"} <= names
    assert "notes__test_simple_text" not in names
    assert direct.content[0].text == "This is a simple text response for testing."
    assert chat.structured_content == {"result": "It said hello."}
    offered = [t["function"]["name"] for t in fake.requests[-2].body["tools"]]
    assert offered == ["test_simple_text"]
    tool_reply = fake.requests[-1].body["messages"][-1]
    assert tool_reply["role"] == "tool" and "simple text response" in tool_reply["content"]


async def test_a_name_clash_of_an_unprefixed_server_is_reported(server: Woollama):
    with anyio.fail_after(LIMIT):
        async with connect(server, "http-auto") as client:
            tools = json.loads((await client.read_resource("woollama://tools")).contents[0].text)
    assert (
        "notes2: 'city_question' is taken; exported as 'notes2__city_question'" in tools["problems"]
    )
    log = server.log()
    assert "notes2: 'test_simple_text' is taken; exported as 'notes2__test_simple_text'" in log
    assert "notes2: 'test://static-text' is taken" in log
