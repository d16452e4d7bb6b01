"""Writing OpenAI chat completions and streamed chunks, for adapters that translate.

Every adapter that is not OpenAI-compatible itself (Anthropic, Ollama native, the
claude CLI) and the recipe loop answer in these shapes, so they are built here once.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

DONE = b"data: [DONE]\n\n"


def sse(obj: Any) -> bytes:
    """One `data:` event of an OpenAI stream."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def new_completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def completion(
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, Any] | None,
    *,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A non-streamed `chat.completion` with one choice."""
    return {
        "id": completion_id or new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage,
    }


@dataclass
class ChunkStream:
    """The fields every chunk of one streamed answer repeats.

    Mutable because a translated stream may learn its id or model from its first event.
    """

    model: str
    include_usage: bool = False
    id: str = field(default_factory=new_completion_id)
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        out = self._envelope([choice])
        if self.include_usage:
            out["usage"] = None  # OpenAI sends null on every chunk but the last
        return out

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The final chunk a client asked for with `stream_options.include_usage`."""
        return {**self._envelope([]), "usage": usage}

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def include_usage(options: object) -> bool:
    """Whether a client's `stream_options` asks for a usage chunk; a malformed value
    means no usage chunk, not a crash."""
    return isinstance(options, dict) and bool(options.get("include_usage"))
