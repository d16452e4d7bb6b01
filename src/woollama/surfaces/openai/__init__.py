"""The OpenAI HTTP API: chat completions, embeddings, images, models and /v1/tools."""
