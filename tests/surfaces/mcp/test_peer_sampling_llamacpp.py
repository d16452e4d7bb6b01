"""woollama answering a downstream server's sampling itself, through a real engine."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import anyio
from mcp import Client

from tests.harness import Woollama
from tests.providers.test_llamacpp_engine import llamacpp_url  # noqa: F401  (a fixture)
from tests.surfaces.mcp.test_peer_requests import ASKER


async def test_a_server_that_opted_in_gets_sampling_answered_by_a_real_engine(
    woollama: Callable[..., Woollama],
    llamacpp_url: str,  # noqa: F811
):
    server = woollama(
        inferencers=f'[inferencers.llamacpp]\nbase_url = "{llamacpp_url}"\n',
        mcp={
            "mcpServers": {
                "asker": {
                    "command": sys.executable,
                    "args": [ASKER],
                    "sampling": {"model": "llamacpp/smollm2"},
                }
            }
        },
    )
    with anyio.fail_after(180):
        async with Client(f"http://{server.address}/mcp") as client:  # cannot sample itself
            result = await client.call_tool(
                "asker__summarise", {"text": "The cat sat on the mat all day.", "max_tokens": 8}
            )
    assert result.is_error is not True, result.content
    got = json.loads(result.content[0].text)
    assert got["model"] == "llamacpp/smollm2"
    assert got["stop_reason"] in ("endTurn", "maxTokens")
    assert got["content"][0]["type"] == "text" and got["content"][0]["text"].strip()
    assert "answered a sampling request with llamacpp/smollm2" in server.log()
