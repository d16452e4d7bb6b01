"""What clients speak to woollama: the OpenAI HTTP API and MCP."""
