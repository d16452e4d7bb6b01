"""Writing a Messages event stream, from OpenAI chunks or from recipe events.

The event order is Anthropic's: message_start; per content block a start, its deltas
and a stop (a ping after the first start); message_delta with stop_reason and usage;
message_stop. Only one block is open at a time, as in Anthropic's own streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from woollama.errors import BackendError, UpstreamError
from woollama.providers.sse import SSEDecoder
from woollama.surfaces.anthropic.translate import new_message_id, stop_reason, to_usage


def event(name: str, data: Mapping[str, Any]) -> bytes:
    # orjson: every streamed piece is encoded here, so its speed is the stream's.
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class EventWriter:
    """The Anthropic side: each method returns the bytes of the events it implies."""

    def __init__(self, model: str):
        self.model = model
        self._index = -1
        self._open: str | None = None  # the kind of the block now open, or its tool key
        self._pinged = False

    def start(self) -> bytes:
        usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": None,
                 "cache_read_input_tokens": None}  # fmt: skip
        message = {"id": new_message_id(), "type": "message", "role": "assistant",
                   "model": self.model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": usage}  # fmt: skip
        return event("message_start", {"type": "message_start", "message": message})

    def text(self, text: str) -> bytes:
        return self._delta(
            "text", {"type": "text", "text": ""}, {"type": "text_delta", "text": text}
        )

    def thinking(self, text: str) -> bytes:
        head = {"type": "thinking", "thinking": "", "signature": ""}
        return self._delta("thinking", head, {"type": "thinking_delta", "thinking": text})

    def tool_use(self, call_id: str, name: str, arguments: str) -> bytes:
        """One whole tool_use block: its start, its input as JSON, its stop."""
        out = self._close()
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        out += self._open_block("tool_use", block)
        delta = {"type": "input_json_delta", "partial_json": arguments or "{}"}
        data = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return out + event("content_block_delta", data) + self._close()

    def finish(self, finish_reason: Any, usage: Mapping[str, Any] | None) -> bytes:
        counted = to_usage(usage)
        delta = {"stop_reason": stop_reason(finish_reason), "stop_sequence": None}
        data = {"type": "message_delta", "delta": delta, "usage": counted}
        return (
            self._close()
            + event("message_delta", data)
            + event("message_stop", {"type": "message_stop"})
        )

    def _delta(self, kind: str, head: dict[str, Any], delta: dict[str, Any]) -> bytes:
        out = b"" if self._open == kind else self._close() + self._open_block(kind, head)
        data = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return out + event("content_block_delta", data)

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        self._index += 1
        self._open = kind
        data = {"type": "content_block_start", "index": self._index, "content_block": block}
        out = event("content_block_start", data)
        if not self._pinged:
            self._pinged = True
            out += event("ping", {"type": "ping"})
        return out

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})


class ChunkTranslator:
    """OpenAI `chat.completion.chunk` SSE bytes in, Messages events out, incrementally."""

    def __init__(self, writer: EventWriter, provider: str):
        self.writer = writer
        self.provider = provider
        self.finished = False
        self._decoder = SSEDecoder()
        self._finish: Any = None
        self._usage: Mapping[str, Any] | None = None
        self._text: list[str] = []  # content not yet written, see _flush
        self._deltas = 0
        self._calls: dict[int, list[str]] = {}  # OpenAI tool index -> id, name, arguments

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for sse in self._decoder.feed(data):
            if self.finished:
                break
            if sse.data.strip() == "[DONE]":
                out += self._flush() + self._end()
                continue
            try:
                chunk = orjson.loads(sse.data)
            except ValueError:
                raise BackendError(
                    f"provider {self.provider!r} streamed an event that is not JSON"
                ) from None
            if not isinstance(chunk, Mapping):
                raise BackendError(f"provider {self.provider!r} streamed a non-object event")
            if isinstance(chunk.get("error"), Mapping):
                raise UpstreamError(502, dict(chunk), self.provider)
            out += self._chunk(chunk)
        return bytes(out + self._flush())

    def close(self) -> bytes:
        """The upstream body ended; a stream without its end is a backend failure."""
        if self.finished:
            return b""
        if self._finish is None:
            raise BackendError(f"provider {self.provider!r} ended the stream before it finished")
        return self._end()  # some servers finish a choice and close without [DONE]

    def _chunk(self, chunk: Mapping[str, Any]) -> bytes:
        out = b""
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"):
                self._deltas += 1
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out += self._flush() + self.writer.thinking(reasoning)
            if isinstance(delta.get("content"), str) and delta["content"]:
                self._text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                self._tool(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def _flush(self) -> bytes:
        # Text that arrived in one read goes out as one delta: the same text in fewer
        # events, which is most of what translating a fast stream costs.
        if not self._text:
            return b""
        text = "".join(self._text)
        self._text.clear()
        return self.writer.text(text)

    def _tool(self, call: Mapping[str, Any]) -> None:
        # OpenAI streams may interleave the fragments of several calls, and Anthropic
        # blocks cannot interleave, so calls are gathered and sent whole at the end.
        index = int(call.get("index") or 0)
        function = call.get("function") or {}
        gathered = self._calls.setdefault(index, ["", "", ""])
        if call.get("id"):
            gathered[0] = str(call["id"])
        if function.get("name"):
            gathered[1] += function["name"]
        if function.get("arguments"):
            gathered[2] += function["arguments"]

    def _end(self) -> bytes:
        self.finished = True
        out = b"".join(
            self.writer.tool_use(call_id or f"toolu_{new_message_id()[4:]}", name, arguments)
            for call_id, name, arguments in (self._calls[i] for i in sorted(self._calls))
        )
        # Some engines (llama-cpp-python) never report a stream's usage; they send about
        # one token per chunk, which is a better answer than none.
        usage = self._usage if self._usage is not None else {"completion_tokens": self._deltas}
        return out + self.writer.finish(self._finish, usage)
