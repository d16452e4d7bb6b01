"""Example MCP server "textops": small pure text transformations.

Run over stdio (what MCP clients spawn):  python examples/textops.py
Run over Streamable HTTP (for tests):     python examples/textops.py --http 8766
"""

from __future__ import annotations

import argparse
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

mcp = MCPServer("textops", instructions="Deterministic text utilities.")

Text = Annotated[str, Field(description="The input text")]


@mcp.tool(description="Convert text to UPPER CASE and return it.")
def uppercase(text: Text) -> str:
    return text.upper()


@mcp.tool(
    description="Count the words in text (runs of non-whitespace characters). Returns an integer."
)
def word_count(text: Text) -> int:
    return len(text.split())


@mcp.tool(description="Reverse text character by character and return it.")
def reverse_text(text: Text) -> str:
    return text[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP at /mcp")
    args = parser.parse_args()
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
