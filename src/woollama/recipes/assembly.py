"""Reassembling one turn's answer from streamed chat-completion chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class TurnAssembler:
    """Accumulates deltas; tool calls are keyed by `index`, never by arrival order."""

    content: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    _calls: dict[int, _PartialCall] = field(default_factory=dict)

    def add_chunk(self, chunk: dict[str, Any]) -> str:
        """Absorb one chunk; returns its text delta (possibly empty)."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        text = ""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                text += delta["content"]
            for call in delta.get("tool_calls") or ():
                self._add_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if text:
            self.content.append(text)
        return text

    def _add_call(self, call: dict[str, Any]) -> None:
        partial = self._calls.setdefault(int(call.get("index", len(self._calls))), _PartialCall())
        if call.get("id"):
            partial.id = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            partial.name += function["name"]
        if function.get("arguments"):
            partial.arguments.append(function["arguments"])

    def tool_calls(self) -> list[dict[str, Any]]:
        return [
            {
                "id": partial.id or f"call_{index}",
                "type": "function",
                "function": {"name": partial.name, "arguments": "".join(partial.arguments)},
            }
            for index, partial in sorted(self._calls.items())
        ]
