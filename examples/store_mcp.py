"""Reference conversation store as an MCP server: one JSON file per thread.

Point woollama at it in mcp.json:
    "mcpServers": {"threads": {"command": "python", "args": ["examples/store_mcp.py", "DIR"]}},
    "conversationStore": "threads"

Every result is a JSON string in a text block, the contract woollama's store client reads.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from mcp.server.mcpserver import MCPServer

try:
    from examples.threads import ThreadFiles
except ImportError:  # run as a script from its own directory
    from threads import ThreadFiles  # type: ignore[no-redef]

mcp = MCPServer("threads", instructions="Conversation threads for woollama, one file each.")
store: ThreadFiles


@mcp.tool(description="Create an empty thread and return its id.", structured_output=False)
def create_thread() -> str:
    return json.dumps(store.create())


@mcp.tool(description="Return a thread's messages as a list of {role, content}.",
          structured_output=False)  # fmt: skip
def get_thread(thread_id: str) -> str:
    return json.dumps(store.get(thread_id))


@mcp.tool(description="Append messages to a thread; returns {ok, count}.", structured_output=False)
def append_turn(thread_id: str, messages: list[dict[str, Any]]) -> str:
    return json.dumps({"ok": True, "count": store.append(thread_id, messages)})


@mcp.tool(description="Delete a thread; returns {ok}.", structured_output=False)
def delete_thread(thread_id: str) -> str:
    store.delete(thread_id)
    return json.dumps({"ok": True})


def main() -> None:
    global store
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=os.environ.get("WOOLLAMA_THREADS_DIR"))
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP at /mcp")
    args = parser.parse_args()
    if not args.directory:
        parser.error("give the directory for thread files (or set WOOLLAMA_THREADS_DIR)")
    store = ThreadFiles(args.directory)
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
