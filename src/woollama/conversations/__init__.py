"""Conversation handles: which backend owns each `conv_…` and under which native id."""

from woollama.conversations.handles import Conversation, HandleTable, Status
from woollama.conversations.service import Conversations

__all__ = ["Conversation", "Conversations", "HandleTable", "Status"]
