"""A downstream MCP server that talks back during its tool calls (a test fixture).

Speaks only the handshake era, so its log lines,
sampling requests and questions arrive on the connection, not inside the call.

    python tests/tools/peer_servers/asker.py              # stdio, handshake era only
    python tests/tools/peer_servers/asker.py --both-eras  # stdio, both eras
Tools: `chatty` logs one line per level; `summarise` asks for a sampled message;
`ask` asks the user a question; `roots` lists the caller's roots. Each returns what
it got back as text.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp.types as mt
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server

Ctx = ServerRequestContext[Any, Any]
LEVELS = ("debug", "info", "warning", "error")

TOOLS = [
    mt.Tool(name="chatty", description="Log one line per level, then answer.",
            input_schema={"type": "object", "properties": {}}),
    mt.Tool(
        name="summarise",
        description="Ask the caller's model to summarise a text.",
        input_schema={
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "hint": {"type": "string"},
                "with_tool": {"type": "boolean"},
                "max_tokens": {"type": "integer"},
            },
            "required": ["text"],
        },
    ),
    mt.Tool(name="ask", description="Ask the user a question.",
            input_schema={"type": "object", "required": ["question"],
                          "properties": {"question": {"type": "string"},
                                         "again": {"type": "boolean"}}}),
    mt.Tool(name="roots", description="List the caller's roots.",
            input_schema={"type": "object", "properties": {}}),
]  # fmt: skip


async def list_tools(ctx: Ctx, params: mt.PaginatedRequestParams | None) -> mt.ListToolsResult:
    return mt.ListToolsResult(tools=TOOLS)


def _text(value: str) -> mt.CallToolResult:
    return mt.CallToolResult(content=[mt.TextContent(type="text", text=value)])


async def call_tool(ctx: Ctx, params: mt.CallToolRequestParams) -> mt.CallToolResult:
    args = params.arguments or {}
    if params.name == "chatty":
        for level in LEVELS:
            await ctx.session.send_log_message(level, f"{level} line", "chatty", ctx.request_id)
        return _text("logged")
    if params.name == "summarise":
        hints = [mt.ModelHint(name=args["hint"])] if args.get("hint") else None
        tools = (
            [mt.Tool(name="lookup", description="Look a word up",
                     input_schema={"type": "object", "properties": {"word": {"type": "string"}}})]
            if args.get("with_tool") else None
        )  # fmt: skip
        text = mt.TextContent(type="text", text=args["text"])
        asked = mt.SamplingMessage(role="user", content=text)
        try:
            answer = await ctx.session.create_message(
                [asked],
                max_tokens=int(args.get("max_tokens", 16)),
                system_prompt="Summarise in one word.",
                model_preferences=mt.ModelPreferences(hints=hints),
                tools=tools,
                related_request_id=ctx.request_id,
            )  # fmt: skip
        except MCPError as exc:
            return mt.CallToolResult(
                content=[mt.TextContent(type="text", text=f"sampling refused: {exc.message}")],
                is_error=True,
            )
        blocks = answer.content if isinstance(answer.content, list) else [answer.content]
        got = {
            "model": answer.model,
            "stop_reason": answer.stop_reason,
            "content": [b.model_dump(mode="json", exclude_none=True) for b in blocks],
        }
        return _text(json.dumps(got))
    if params.name == "ask":
        schema = {"type": "object", "properties": {"answer": {"type": "string"}},
                  "required": ["answer"]}  # fmt: skip
        reply = await ctx.session.elicit_form(args["question"], schema, ctx.request_id)
        got = {"action": reply.action, "content": reply.content}
        if args.get("again"):  # a second question in the same call
            again = await ctx.session.elicit_form("And again?", schema, ctx.request_id)
            got["again"] = again.content
        return _text(json.dumps(got))
    if params.name == "roots":
        try:
            listed = await ctx.session.list_roots()
        except MCPError as exc:
            return mt.CallToolResult(
                content=[mt.TextContent(type="text", text=f"roots refused: {exc.message}")],
                is_error=True,
            )
        return _text(json.dumps([str(root.uri) for root in listed.roots]))
    raise MCPError(code=mt.INVALID_PARAMS, message=f"unknown tool {params.name!r}")


async def initialized(ctx: Ctx, params: mt.NotificationParams) -> None:
    # A line outside any call: the client keeps it in its own log.
    await ctx.session.send_log_message("notice", "asker is ready", "asker")


def main() -> None:
    server = Server("asker", on_list_tools=list_tools, on_call_tool=call_tool)
    server.add_notification_handler("notifications/initialized", mt.NotificationParams, initialized)

    async def run() -> None:
        options = server.create_initialization_options()
        if "--both-eras" in sys.argv:  # only `chatty` works in the 2026-07-28 era
            async with stdio_server() as (read, write):
                await server.run(read, write, options)
            return
        async with server.lifespan(server) as state, stdio_server() as (read, write):
            # The handshake-only loop: `server/discover` is not served, so clients
            # fall back to `initialize`.
            await serve_loop(server, read, write, lifespan_state=state, init_options=options)

    anyio.run(run)


if __name__ == "__main__":
    main()
