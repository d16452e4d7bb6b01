"""Ollama's native /api/chat route, used where OpenAI-compatible routes drop options."""
