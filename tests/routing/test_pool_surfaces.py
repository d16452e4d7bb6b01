"""Every surface reaches a pooled model through its gate: chat completions, the
Responses API, a recipe's turns and the MCP `chat` tool."""

from __future__ import annotations

import anyio
import httpx2
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.device import FakeOllamaDevice
from tests.harness import Woollama
from tests.routing.pooling import ask, concurrently, pooled

RECIPES = '[recipes.helper]\ninferencer = "box/m1"\nsystem = "be brief"\n'


async def _mcp_chat(server: Woollama) -> tuple[bool, str]:
    with anyio.fail_after(20):
        async with (
            httpx2.AsyncClient() as http,
            Client(
                streamable_http_client(f"http://{server.address}/mcp", http_client=http)
            ) as client,
        ):
            result = await client.call_tool(
                "chat", {"model": "box/m1", "messages": [{"role": "user", "content": "x"}]}
            )
    return bool(result.is_error), result.content[0].text if result.content else ""


def test_a_busy_model_is_busy_on_every_surface(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(
            inferencers=pooled(device, queue_max=0), recipes=RECIPES, mcp={"mcpServers": {}}
        )
        client = server.client()
        device.hold("m1")

        def others() -> list:
            assert device.wait_for(lambda: device.state.in_flight.get("m1") == 1)
            outcomes = []
            with pytest.raises(openai.APIStatusError) as responses:
                client.responses.create(model="box/m1", input="hi")
            outcomes.append(responses.value.status_code)
            with pytest.raises(openai.APIStatusError) as recipe:
                client.chat.completions.create(
                    model="woollama/helper", messages=[{"role": "user", "content": "hi"}]
                )
            outcomes.append(recipe.value.status_code)
            outcomes.append(anyio.run(_mcp_chat, server))
            device.let_go()
            return outcomes

        first, outcomes = concurrently([lambda: ask(client, "box/m1"), others])
        assert first == "m1"
        assert outcomes[:2] == [503, 503]
        is_error, text = outcomes[2]
        assert is_error and "busy" in text
        # Once free, each surface is served.
        assert client.responses.create(model="box/m1", input="hi").output_text
        recipe = client.chat.completions.create(
            model="woollama/helper", messages=[{"role": "user", "content": "hi"}]
        )
        assert recipe.choices[0].message.content == "m1 says hi"


def test_an_alias_falls_over_from_a_busy_gate_to_its_next_target(woollama, fake_openai):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        inferencers = (
            pooled(device, queue_max=0)
            + f'\n[inferencers.fake]\nbase_url = "{fake_openai.base_url}"\n'
            + '\n[aliases]\nlocal = ["box/m1", "fake/fake-model"]\n'
        )
        server: Woollama = woollama(inferencers=inferencers)
        client = server.client()
        device.hold("m1")

        def second() -> str:
            assert device.wait_for(lambda: device.state.in_flight.get("m1") == 1)
            raw = client.chat.completions.with_raw_response.create(
                model="local", messages=[{"role": "user", "content": "hi"}]
            )
            device.let_go()
            return raw.headers["x-woollama-target"]

        assert concurrently([lambda: ask(client, "local"), second]) == ["m1", "fake/fake-model"]
