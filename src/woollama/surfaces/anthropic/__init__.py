"""Anthropic's Messages API as a surface: Claude Code and the `anthropic` SDK as clients."""
