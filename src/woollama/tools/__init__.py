"""Downstream MCP servers: supervised sessions and the shared tool registry."""

from woollama.tools.connection import Health, ServerConnection, Timing, tool_timeout
from woollama.tools.registry import ToolEntry, ToolRegistry, result_text

__all__ = [
    "Health",
    "ServerConnection",
    "Timing",
    "ToolEntry",
    "ToolRegistry",
    "result_text",
    "tool_timeout",
]
