"""Scripted replies for the fake OpenAI backend (see ``openai_backend``).

Each reply is consumed by exactly one chat, embeddings or images request, in the order
it was scripted. Every kind is a frozen dataclass so a script reads like data and a
test can compare what it queued with what it expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """An assistant message; streamed as word-sized pieces after a role-only chunk."""

    content: str
    finish_reason: str = "stop"
    # Replaces the computed usage verbatim, e.g. to test how a router reports tokens.
    usage: Mapping[str, int] | None = None


@dataclass(frozen=True)
class ToolCalls:
    """Assistant tool calls given as ``(function_name, arguments_json)`` pairs.

    Streamed the way OpenAI does it: a header delta per call (index, id, type, name,
    empty arguments), then argument fragments that carry only the index. Fragments of
    different calls are interleaved so that a consumer keyed on anything but ``index``
    fails loudly.
    """

    calls: Sequence[tuple[str, str]]
    content: str | None = None

    def __post_init__(self) -> None:
        # Callers pass lists; keep the dataclass genuinely immutable and validated.
        calls = tuple((str(name), args) for name, args in self.calls)
        for name, args in calls:
            if not isinstance(args, str):
                raise TypeError(f"arguments for {name!r} must be a JSON string, got {args!r}")
        if not calls:
            raise ValueError("ToolCalls needs at least one call")
        object.__setattr__(self, "calls", calls)


@dataclass(frozen=True)
class Error:
    """An OpenAI error body with this status (sent before any byte of a stream)."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    # e.g. {"retry-after-ms": "0"} so an SDK retrying a 429 does not back off for seconds.
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Chunks:
    """``n`` content chunks of ``text``, ``delay`` seconds apart when streamed.

    Non-streaming requests get ``text * n`` at once (the delay is not applied).
    """

    n: int
    delay: float = 0.0
    text: str = "tok"


@dataclass(frozen=True)
class Die:
    """Drop the TCP connection mid-response.

    Streaming: a 200 SSE response, the role chunk, ``after_chunks`` content chunks,
    then the connection is closed without the final chunk or ``[DONE]``.
    Non-streaming: the connection is closed without any response. Note that SDK
    clients retry connection errors, and each retry consumes the next scripted reply.
    """

    after_chunks: int = 0


@dataclass(frozen=True)
class Slow:
    """Wait ``delay`` seconds, then answer with ``then`` (``None``: the default answer)."""

    delay: float
    then: Reply | None = None


@dataclass(frozen=True)
class Raw:
    """Exactly these bytes with this status and content type, streaming or not."""

    status: int
    body: bytes
    content_type: str = "text/plain"
    headers: Mapping[str, str] | None = None


Reply = Text | ToolCalls | Error | Chunks | Die | Slow | Raw
