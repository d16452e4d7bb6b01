"""A downstream MCP server with prompts, resources, a template and completions.

Its names are the ones the conformance suite asks for (`test_simple_text`,
`test://static-text`), so it also shows `"namespace": false` at work. Run over stdio;
`--no-subscriptions` leaves `subscriptions/listen` out (a server that cannot subscribe).
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resources import TextResource
from mcp.types import Completion, PromptReference, ResourceTemplateReference

mcp = MCPServer("notes", subscriptions=False if "--no-subscriptions" in sys.argv else None)
CITIES = ["Paris", "Porto", "Prague", "Oslo"]


@mcp.tool(description="Returns a fixed text.")
def test_simple_text() -> str:
    return "This is a simple text response for testing."


@mcp.tool(description="Adds a note as a new resource notes://<title>.")
def add_note(title: str, text: str) -> str:
    mcp.add_resource(TextResource(uri=f"notes://{title}", name=title, text=text))
    return f"added notes://{title}"


@mcp.tool(description="Says that the resource at `uri` changed.")
async def touch(uri: str, ctx: Context) -> str:
    await ctx.notify_resource_updated(uri)
    return f"touched {uri}"


@mcp.resource("test://static-text", name="static-text", mime_type="text/plain")
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource("test://items/{item}", name="item", mime_type="text/plain")
def item(item: str) -> str:
    return f"item {item}"


@mcp.prompt(description="Asks about a city.")
def city_question(city: str) -> str:
    return f"What is worth seeing in {city}?"


@mcp.completion()
async def complete(ref, argument, context) -> Completion | None:
    if isinstance(ref, PromptReference) and ref.name == "city_question":
        values = [c for c in CITIES if c.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)
    if isinstance(ref, ResourceTemplateReference) and ref.uri == "test://items/{item}":
        return Completion(values=[f"{argument.value}1", f"{argument.value}2"])
    return None


if __name__ == "__main__":
    mcp.run()
