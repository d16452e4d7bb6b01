"""The OpenAI Responses API (`/v1/responses`), stateless and stateful."""
