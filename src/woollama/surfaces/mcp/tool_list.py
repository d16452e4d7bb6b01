"""The `tools/list` answer, with each tool's wire form built once per registry entry.

Building and dumping a `Tool` model for each of hundreds of tools on every listing is
most of what woollama itself spends on a `tools/list`; registry entries are frozen and
replaced when a server's tools change, so an entry's wire form never goes stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mcp.types as mt

from woollama.tools.registry import ToolEntry


def wire(tool: mt.Tool) -> dict[str, Any]:
    """A tool as the SDK writes it: the form a handler may return in place of the model."""
    return tool.model_dump(by_alias=True, mode="json", exclude_none=True)


# The result's own fields with their defaults (2026-07-28 requires the cache hints).
_ENVELOPE = mt.ListToolsResult(tools=[]).model_dump(by_alias=True, mode="json", exclude_none=True)


def listing(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A ListToolsResult in wire form, around tools in wire form."""
    return {**_ENVELOPE, "tools": tools}


def entry_tool(entry: ToolEntry) -> mt.Tool:
    return mt.Tool(
        name=entry.model_name,
        description=f"{entry.description}\n\n(from MCP server {entry.server!r})".strip(),
        input_schema=entry.input_schema or {"type": "object"},
        output_schema=entry.output_schema,
        annotations=mt.ToolAnnotations.model_validate(entry.annotations)
        if entry.annotations
        else None,
    )


class ToolList:
    """Wire forms keyed by entry identity; the entry is held so its id is not reused."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[ToolEntry, dict[str, Any]]] = {}

    def of(self, entry: ToolEntry) -> dict[str, Any]:
        found = self._memo.get(id(entry))
        if found is None or found[0] is not entry:
            found = self._memo[id(entry)] = (entry, wire(entry_tool(entry)))
        return found[1]

    def keep_only(self, entries: Iterable[ToolEntry]) -> None:
        """Forget entries the registry has replaced (called after a listing)."""
        live = {id(entry) for entry in entries}
        if len(self._memo) > len(live):
            self._memo = {key: value for key, value in self._memo.items() if key in live}
