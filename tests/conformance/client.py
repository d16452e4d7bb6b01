"""woollama as the client of the conformance suite's server (its `client` mode).

The suite runs `python tests/conformance/client.py <server-url>` with the scenario in
`MCP_CONFORMANCE_SCENARIO` (and tool calls to make in `MCP_CONFORMANCE_CONTEXT`).
This starts a real woollama whose `mcp.json` names that URL, then, as a user's MCP
client would, lists and uses through woollama's `/mcp` what the server offers: the
suite watches what woollama sends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import mcp.types as mt
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.harness import start, write_config

LIMIT = 20.0
SCHEMA_TOOL = "json_schema_2020_12_tool"


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        name: prop["default"]
        for name, prop in (schema.get("properties") or {}).items()
        if "default" in prop
    }


async def _answer(context: Any, params: mt.ElicitRequestParams) -> mt.ElicitResult:
    # A user who accepts what the form suggests.
    schema = getattr(params, "requested_schema", None) or {}
    return mt.ElicitResult(action="accept", content=_defaults(dict(schema)))


def _calls(scenario: str, tools: list[mt.Tool], context: dict[str, Any]) -> list[tuple[str, dict]]:
    """The tool calls a user would make in this scenario."""
    if context.get("toolCalls"):
        return [(call["name"], call.get("arguments") or {}) for call in context["toolCalls"]]
    if scenario == "tools_call":
        return [("add_numbers", {"a": 2, "b": 3})]
    by_name = {tool.name: tool for tool in tools}
    if SCHEMA_TOOL in by_name:
        echo = next(name for name in by_name if name != SCHEMA_TOOL)
        return [(echo, {"schema": by_name[SCHEMA_TOOL].input_schema})]
    # Otherwise every tool woollama offers, as a curious user would.
    return [(tool.name, _arguments(tool.input_schema or {})) for tool in tools]


_SAMPLES: dict[str, Any] = {"string": "x", "integer": 1, "number": 1, "boolean": True}


def _arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """A value for every required argument, of the type the schema asks."""
    properties = schema.get("properties") or {}
    return {
        name: _SAMPLES.get((properties.get(name) or {}).get("type"), {})
        for name in schema.get("required") or ()
    }


async def _use(url: str, scenario: str, context: dict[str, Any]) -> None:
    async with Client(
        streamable_http_client(url), mode="legacy", elicitation_callback=_answer
    ) as client:
        tools = (await client.list_tools()).tools
        for name, arguments in _calls(scenario, tools, context):
            if any(tool.name == name for tool in tools):
                with contextlib.suppress(MCPError):  # a refused call is the server's verdict
                    await client.call_tool(name, arguments)
        for method in (_resources, _prompts):
            with contextlib.suppress(MCPError):  # the server offers none: nothing to use
                await method(client)


async def _resources(client: Client) -> None:
    for resource in (await client.list_resources()).resources:
        await client.read_resource(str(resource.uri))


async def _prompts(client: Client) -> None:
    for prompt in (await client.list_prompts()).prompts:
        if not any(arg.required for arg in prompt.arguments or ()):
            await client.get_prompt(prompt.name)


def main() -> int:
    server_url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    with tempfile.TemporaryDirectory(prefix="woollama-conformance-") as tmp:
        root = Path(tmp)
        mcp = {"mcpServers": {"suite": {"url": server_url, "namespace": False}}}
        write_config(root / "config", mcp=mcp)
        woollama = start(root)
        try:
            woollama.http().get("/v1/tools", params={"wait": LIMIT})

            async def run() -> None:
                with anyio.fail_after(LIMIT):
                    await _use(f"http://{woollama.address}/mcp", scenario, context)

            anyio.run(run)
        finally:
            woollama.stop()
            sys.stderr.write(woollama.log()[-4000:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
