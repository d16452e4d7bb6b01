"""Backends that own conversation state: the protocol and its implementations."""
