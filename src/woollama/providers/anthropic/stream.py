"""Anthropic's streamed Messages events re-expressed as OpenAI `chat.completion.chunk` SSE.

The converter is incremental: feed it bytes as they arrive and forward what it returns
at once, so streaming through the Anthropic adapter stays as live as pass-through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from woollama.errors import BackendError
from woollama.providers.anthropic.translate import (
    completion_id,
    finish_reason,
    to_openai_error,
    to_openai_usage,
)
from woollama.providers.openai_wire import DONE, ChunkStream, sse
from woollama.providers.sse import SSEDecoder

Chunk = dict[str, Any]


@dataclass
class _ToolBlock:
    index: int  # OpenAI's tool_calls index: counts tool calls, not content blocks
    input: Any
    sent_arguments: bool = False


class StreamConverter:
    """One Anthropic stream in, one OpenAI stream out.

    `convert()` maps a parsed event to chunk objects (for tests and callers that
    want objects); `feed()` does the SSE decoding and encoding around it.
    """

    def __init__(
        self,
        model: str,
        provider: str = "anthropic",
        *,
        include_usage: bool = False,
        created: int | None = None,
    ):
        self.provider = provider
        self.head = ChunkStream(model, include_usage, completion_id("pending"))
        if created is not None:
            self.head.created = created
        self.finished = False  # message_stop or an error event was seen
        self.failed = False  # an error event was seen
        self._decoder = SSEDecoder()
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, _ToolBlock] = {}  # by content-block index
        self._finish_sent = False

    # -- bytes in, bytes out -------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Raw upstream bytes → OpenAI SSE bytes (maybe empty); ends with [DONE] when done."""
        out = bytearray()
        for event in self._decoder.feed(data):
            if self.finished:
                break
            try:
                parsed = json.loads(event.data)
            except ValueError:
                raise BackendError(
                    f"provider {self.provider!r} streamed an event that is not JSON"
                ) from None
            if not isinstance(parsed, Mapping):
                raise BackendError(f"provider {self.provider!r} streamed a non-object event")
            for chunk in self.convert(parsed, event.event):
                out += sse(chunk)
            if self.finished and not self.failed:
                # After an error event there is no [DONE]: a client must not take the
                # truncated answer for a complete one.
                out += DONE
        return bytes(out)

    def close(self) -> None:
        """Call when the upstream body ended; a stream cut short is a backend failure."""
        if not self.finished:
            raise BackendError(f"provider {self.provider!r} ended the stream before message_stop")

    # -- events → chunks -----------------------------------------------------------

    def convert(self, event: Mapping[str, Any], name: str = "") -> list[Chunk]:
        kind = event.get("type") or name
        handler = getattr(self, f"_on_{kind}", None)
        # New event types may appear at any time; the API reference says to ignore them.
        return handler(event) if handler is not None and not self.finished else []

    def _on_message_start(self, event: Mapping[str, Any]) -> list[Chunk]:
        message = event.get("message") or {}
        self.head.id = completion_id(message.get("id"))
        self._usage.update(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, event: Mapping[str, Any]) -> list[Chunk]:
        block = event.get("content_block") or {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        if kind == "tool_use":
            tool = _ToolBlock(len(self._tools), block.get("input"))
            self._tools[int(event.get("index", -1))] = tool
            call = {
                "index": tool.index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []  # redacted thinking, server tools: nothing an OpenAI client can use

    def _on_content_block_delta(self, event: Mapping[str, Any]) -> list[Chunk]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            tool = self._tools.get(int(event.get("index", -1)))
            if tool is not None:
                tool.sent_arguments = True
                return [self._arguments(tool, delta["partial_json"])]
        return []  # signature_delta, citations_delta, empty fragments

    def _on_content_block_stop(self, event: Mapping[str, Any]) -> list[Chunk]:
        tool = self._tools.get(int(event.get("index", -1)))
        if tool is None or tool.sent_arguments:
            return []
        # A call without parameters may stream no fragment at all; clients parse the
        # arguments string, so give them a valid JSON object rather than "".
        tool.sent_arguments = True
        return [self._arguments(tool, json.dumps(tool.input or {}))]

    def _on_message_delta(self, event: Mapping[str, Any]) -> list[Chunk]:
        # message_delta usage is cumulative, so later values replace earlier ones.
        self._usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        stop_reason = (event.get("delta") or {}).get("stop_reason")
        if stop_reason is None or self._finish_sent:
            return []
        self._finish_sent = True
        return [self._chunk({}, finish_reason(stop_reason))]

    def _on_message_stop(self, event: Mapping[str, Any]) -> list[Chunk]:
        self.finished = True
        chunks = [] if self._finish_sent else [self._chunk({}, "stop")]
        self._finish_sent = True
        if self.head.include_usage:
            chunks.append(self.head.usage_chunk(dict(to_openai_usage(self._usage))))
        return chunks

    def _on_error(self, event: Mapping[str, Any]) -> list[Chunk]:
        self.finished = self.failed = True
        _, body = to_openai_error(502, event, self.provider)
        return [body]

    # -- chunk building ------------------------------------------------------------

    def _arguments(self, tool: _ToolBlock, fragment: str) -> Chunk:
        call = {"index": tool.index, "function": {"arguments": fragment}}
        return self._chunk({"tool_calls": [call]})

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return self.head.chunk(delta, finish)
