"""Example MCP server "hello": greeting, progress reporting and elicitation.

Run over stdio (what MCP clients spawn):  python examples/hello.py
Run over Streamable HTTP (for tests):     python examples/hello.py --http 8765
Run over the legacy SSE transport:        python examples/hello.py --sse 8765
"""

from __future__ import annotations

import argparse
import sys
from typing import Annotated, TypedDict

import anyio
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from pydantic import BaseModel, Field

mcp = MCPServer("hello", instructions="Toy tools for exercising MCP features end to end.")


class CountResult(TypedDict):
    count: int
    total: int
    done: bool


class Answer(BaseModel):
    answer: str = Field(description="Your answer")


@mcp.tool(description='Greet someone by name. Returns the text "Hello, <name>!".')
def hello(name: Annotated[str, Field(description="Who to greet")]) -> str:
    return f"Hello, {name}!"


@mcp.tool(
    description="Count from 1 to n, sending a progress notification at every step. "
    "Use it to try out long-running calls and progress reporting. "
    'Returns {"count": n, "total": n, "done": true} when finished.'
)
async def count_to(
    ctx: Context,
    n: Annotated[int, Field(ge=1, le=10000, description="Number to count up to (1-10000)")],
    delay_ms: Annotated[
        int, Field(ge=0, le=10000, description="Pause between steps in milliseconds")
    ] = 0,
) -> CountResult:
    i = 0
    try:
        for i in range(1, n + 1):
            if delay_ms:
                await anyio.sleep(delay_ms / 1000)
            await ctx.report_progress(i, n, f"counted {i} of {n}")
    except anyio.get_cancelled_exc_class():
        # Said on stderr so whoever runs the server can see a cancellation arrive.
        print(f"hello: count_to cancelled after {i} of {n}", file=sys.stderr, flush=True)
        raise
    return {"count": n, "total": n, "done": True}


async def _ask(question: str, ctx: Context) -> Elicit[Answer] | None:
    # A resolver rather than ctx.elicit(): on 2026-07-28 connections there is no
    # server-to-client back channel, and the SDK then rides the question on an
    # InputRequiredResult. Returning None (not Elicit) when the client cannot answer
    # avoids the SDK's protocol error so the model gets a readable result instead.
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps else None
    # A bare `elicitation: {}` means form support; URL-only clients cannot answer a form.
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return None
    return Elicit(question, Answer)


@mcp.tool(
    description="Ask the human user a free-text question and return their answer. "
    "Use only for information that only the user can give. If the user declines, "
    "cancels, or the client cannot ask, a sentence saying so is returned instead."
)
async def ask_user(
    question: Annotated[str, Field(description="The question to show the user")],
    reply: Annotated[ElicitationResult[Answer], Resolve(_ask)],
) -> str:
    # The SDK wraps a resolver's plain return value as accepted, so None arrives as data.
    if reply.action == "accept" and reply.data is None:
        return "The client does not support asking the user (no elicitation capability)."
    if reply.action == "accept":
        return reply.data.answer
    verb = "declined" if reply.action == "decline" else "cancelled"
    return f"The user {verb} the question and gave no answer."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP at /mcp")
    parser.add_argument("--sse", type=int, metavar="PORT", help="serve the legacy SSE transport")
    args = parser.parse_args()
    if args.http is not None:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)
    elif args.sse is not None:
        mcp.run("sse", host="127.0.0.1", port=args.sse)
    else:
        mcp.run()


if __name__ == "__main__":
    main()
