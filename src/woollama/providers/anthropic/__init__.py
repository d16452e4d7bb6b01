"""Anthropic Messages API adapter: request and response translation, stream conversion."""
