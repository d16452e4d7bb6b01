"""Recipes: a system prompt, allow-listed MCP tools and a model, run as one model."""

from woollama.recipes.events import (
    Done,
    Event,
    TextDelta,
    ToolCalled,
    ToolResult,
    final_answer,
)
from woollama.recipes.loop import RecipeRunner

__all__ = ["Done", "Event", "RecipeRunner", "TextDelta", "ToolCalled", "ToolResult", "final_answer"]
