"""The OpenAI Conversations API (`/v1/conversations`) over the handle table."""
