"""Conversation handles: which backend owns each `conv_…` and under which native id."""

from woollama.conversations.handles import Conversation, HandleTable, Status

__all__ = ["Conversation", "HandleTable", "Status"]
