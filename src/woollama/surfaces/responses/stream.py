"""Building a response from answer signals, as Responses API stream events.

`ResponseWriter` is fed `Signal`s (text, reasoning and tool-call fragments, then a
finish) and returns the events each one causes, in the documented order. The
streaming route frames them as SSE; the non-streaming route drops them and keeps
`writer.response`, so both answer shapes come from the same code.

Output items are written one after another: each is added, filled and done before
the next is added, which is what clients that follow `output_index` loosely expect.
Chat backends may interleave the argument fragments of parallel tool calls, so only
the first call streams live; the others are buffered and written whole at the end.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from woollama.errors import BackendError, WoollamaError
from woollama.surfaces.responses.output import (
    INCOMPLETE_REASONS,
    ItemStatus,
    OutputItem,
    function_call_item,
    message_item,
    new_id,
    output_text,
    reasoning_item,
    response_error,
    usage_from_chat,
)

log = logging.getLogger(__name__)

Event = dict[str, Any]


@dataclass(frozen=True)
class TextSignal:
    text: str


@dataclass(frozen=True)
class ReasoningSignal:
    text: str


@dataclass(frozen=True)
class CallSignal:
    """One chat `tool_calls` delta: the header (id, name) and/or an arguments fragment."""

    index: int
    call_id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class FinishSignal:
    reason: str
    usage: dict[str, Any] | None


@dataclass(frozen=True)
class ProgressSignal:
    """Work happened that the client does not see (a recipe's tool turn)."""


Signal = TextSignal | ReasoningSignal | CallSignal | FinishSignal | ProgressSignal


@dataclass
class _Call:
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Live:
    """The output item being streamed now."""

    kind: Literal["message", "reasoning", "function_call"]
    item_id: str
    output_index: int
    parts: list[str] = field(default_factory=list)
    call: _Call | None = None
    call_index: int = -1


class ResponseWriter:
    def __init__(self, response: dict[str, Any]):
        self.response = response  # the envelope; `output` fills as items are done
        self.finished = False
        self._sequence = 0
        self._live: _Live | None = None
        self._calls: dict[int, _Call] = {}  # every tool call by its chat index
        # What arrives after a tool call went live is held back to keep items sequential.
        self._held_text: list[str] = []
        self._held_reasoning: list[str] = []

    # -- events ------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _snapshot(self, kind: str) -> Event:
        return self._event(
            kind, response={**self.response, "output": list(self.response["output"])}
        )

    def start(self) -> list[Event]:
        return [self._snapshot("response.created"), self._snapshot("response.in_progress")]

    def apply(self, signal: Signal) -> list[Event]:
        live = self._live
        if isinstance(signal, TextSignal):
            if live is not None and live.kind == "function_call":
                self._held_text.append(signal.text)
                return []
            return self._stream_into("message", signal.text)
        if isinstance(signal, ReasoningSignal):
            if live is not None and live.kind == "function_call":
                self._held_reasoning.append(signal.text)
                return []
            return self._stream_into("reasoning", signal.text)
        if isinstance(signal, CallSignal):
            return self._call(signal)
        if isinstance(signal, FinishSignal):
            return self._finish(signal)
        return []

    def _stream_into(self, kind: Literal["message", "reasoning"], text: str) -> list[Event]:
        events: list[Event] = []
        if self._live is None or self._live.kind != kind:
            events += self._close("completed")
            events += self._open(kind)
        if text:
            events.append(self._delta(text))
        return events

    def _call(self, signal: CallSignal) -> list[Event]:
        call = self._calls.get(signal.index)
        if call is None:
            call = _Call(signal.call_id or new_id("call"), signal.name or "")
            self._calls[signal.index] = call
            if self._live is None or self._live.kind != "function_call":
                events = self._close("completed") + self._open("function_call", call, signal.index)
                if signal.arguments:
                    events.append(self._delta(signal.arguments))
                return events
        elif signal.name and signal.name != call.name:
            # Most backends send the name once; some repeat it, a few split it.
            call.name += signal.name
        live = self._live
        if live is not None and live.call_index == signal.index:
            return [self._delta(signal.arguments)] if signal.arguments else []
        call.arguments.append(signal.arguments)
        return []

    def _open(
        self,
        kind: Literal["message", "reasoning", "function_call"],
        call: _Call | None = None,
        call_index: int = -1,
    ) -> list[Event]:
        prefix = {"message": "msg", "reasoning": "rs", "function_call": "fc"}[kind]
        live = _Live(kind, new_id(prefix), len(self.response["output"]), call=call,
                     call_index=call_index)  # fmt: skip
        self._live = live
        at = {"item_id": live.item_id, "output_index": live.output_index}
        added = self._event("response.output_item.added", output_index=live.output_index,
                            item=self._item(live, "in_progress", None))  # fmt: skip
        if kind == "message":
            return [added, self._event("response.content_part.added", **at, content_index=0,
                                       part=output_text(""))]  # fmt: skip
        if kind == "reasoning":
            part = {"type": "summary_text", "text": ""}
            return [added, self._event("response.reasoning_summary_part.added", **at,
                                       summary_index=0, part=part)]  # fmt: skip
        return [added]

    def _delta(self, text: str) -> Event:
        live = self._live
        assert live is not None
        live.parts.append(text)
        at = {"item_id": live.item_id, "output_index": live.output_index}
        if live.kind == "message":
            return self._event("response.output_text.delta", **at, content_index=0, delta=text,
                               logprobs=[])  # fmt: skip
        if live.kind == "reasoning":
            return self._event("response.reasoning_summary_text.delta", **at, summary_index=0,
                               delta=text)  # fmt: skip
        return self._event("response.function_call_arguments.delta", **at, delta=text)

    def _item(self, live: _Live, status: ItemStatus, text: str | None) -> OutputItem:
        if live.kind == "message":
            return message_item(live.item_id, text, status)
        if live.kind == "reasoning":
            return reasoning_item(live.item_id, text, status)
        assert live.call is not None
        return function_call_item(live.item_id, live.call.call_id, live.call.name, text or "",
                                  status)  # fmt: skip

    def _close(self, status: ItemStatus) -> list[Event]:
        live, self._live = self._live, None
        if live is None:
            return []
        text = "".join(live.parts)
        at = {"item_id": live.item_id, "output_index": live.output_index}
        events: list[Event] = []
        if live.kind == "message":
            events += [
                self._event("response.output_text.done", **at, content_index=0, text=text,
                            logprobs=[]),
                self._event("response.content_part.done", **at, content_index=0,
                            part=output_text(text)),
            ]  # fmt: skip
        elif live.kind == "reasoning":
            part = {"type": "summary_text", "text": text}
            events += [
                self._event("response.reasoning_summary_text.done", **at, summary_index=0,
                            text=text),
                self._event("response.reasoning_summary_part.done", **at, summary_index=0,
                            part=part),
            ]  # fmt: skip
        else:
            events.append(self._event("response.function_call_arguments.done", **at,
                                      arguments=text))  # fmt: skip
        item = self._item(live, status, text)
        self.response["output"].append(item)
        events.append(self._event("response.output_item.done", output_index=live.output_index,
                                  item=item))  # fmt: skip
        return events

    def _write_whole(self, kind: Literal["message", "reasoning", "function_call"], text: str,
                     status: ItemStatus, call: _Call | None = None) -> list[Event]:  # fmt: skip
        events = self._open(kind, call)
        if text:
            events.append(self._delta(text))
        return events + self._close(status)

    def _finish(self, signal: FinishSignal) -> list[Event]:
        reason = INCOMPLETE_REASONS.get(signal.reason)
        status: ItemStatus = "incomplete" if reason else "completed"
        live_call = self._live.call_index if self._live is not None else -1
        events = self._close(status)
        if self._held_reasoning:
            events += self._write_whole("reasoning", "".join(self._held_reasoning), status)
        if self._held_text:
            events += self._write_whole("message", "".join(self._held_text), status)
        for index, call in sorted(self._calls.items()):
            if index != live_call:  # a live call stays live until the end, so is done now
                events += self._write_whole("function_call", "".join(call.arguments), status, call)
        if not self.response["output"]:
            # An empty answer is still one (empty) message, so clients find the text.
            events += self._write_whole("message", "", status)
        self.finished = True
        self.response["usage"] = usage_from_chat(signal.usage)
        if reason:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
            return [*events, self._snapshot("response.incomplete")]
        self.response["status"] = "completed"
        self.response["completed_at"] = int(time.time())
        return [*events, self._snapshot("response.completed")]

    def fail(self, exc: WoollamaError) -> list[Event]:
        """The `error` event and `response.failed`; the partial item is kept as incomplete."""
        live = self._live
        if live is not None:
            self.response["output"].append(self._item(live, "incomplete", "".join(live.parts)))
            self._live = None
        self.finished = True
        self.response["status"] = "failed"
        self.response["error"] = response_error(exc)
        error = self._event("error", code=exc.code or exc.error_type, message=exc.message,
                            param=exc.param)  # fmt: skip
        return [error, self._snapshot("response.failed")]


def sse(event: Event) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


async def stream_events(
    writer: ResponseWriter, first: Signal, signals: AsyncGenerator[Signal, None]
) -> AsyncIterator[bytes]:
    """The SSE body. Cancelled when the client disconnects; `finally` closes the upstream."""
    try:
        for event in writer.start():
            yield sse(event)
        signal: Signal | None = first
        while signal is not None:
            for event in writer.apply(signal):
                yield sse(event)
            signal = await anext(signals, None)
        if not writer.finished:
            raise BackendError("the answer ended without finishing")
    except WoollamaError as exc:
        log.warning("response stream %s failed: %s", writer.response["id"], exc.message)
        for event in writer.fail(exc):
            yield sse(event)
    except Exception as exc:  # a bug: still end the stream in the documented way
        log.exception("response stream %s broke", writer.response["id"])
        failure = BackendError(f"internal error: {type(exc).__name__}; see woollama's log")
        for event in writer.fail(failure):
            yield sse(event)
    finally:
        await signals.aclose()
