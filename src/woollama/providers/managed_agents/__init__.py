"""Anthropic Managed Agents: the client of hosted agent sessions and their wire types."""
