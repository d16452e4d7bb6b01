"""Wire shapes of Anthropic's Managed Agents API and the pure functions that read them.

Written from Anthropic's public reference (beta `managed-agents-2026-04-01`): agents
(`POST /v1/agents`), environments (`POST /v1/environments`), sessions
(`POST/GET/DELETE /v1/sessions[/{id}]`) and session events
(`POST /v1/sessions/{id}/events`, `GET .../events` paginated by `next_page`,
`GET .../events/stream` as SSE). Kept apart from the client so the folding of an
event stream into one `AgentTurn` can be read and tested without a socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from woollama.errors import (
    BackendBusy,
    BackendError,
    BadRequest,
    Conflict,
    NotFound,
    UpstreamError,
    WoollamaError,
    error_body,
)

BETA = "managed-agents-2026-04-01"
ASK_USER = "ask_user"
PROVIDER = "Managed Agents"
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class TextBlock(TypedDict):
    type: Literal["text"]
    text: str


class CustomTool(TypedDict):
    type: Literal["custom"]
    name: str
    description: str
    input_schema: dict[str, Any]


class AgentCreate(TypedDict):
    name: str
    model: str
    tools: list[dict[str, Any]]
    system: NotRequired[str]


class EnvironmentCreate(TypedDict):
    name: str
    config: dict[str, Any]


class SessionCreate(TypedDict):
    agent: str  # the string shorthand: the agent's latest version
    environment_id: str
    metadata: NotRequired[dict[str, str]]


class UserMessageEvent(TypedDict):
    type: Literal["user.message"]
    content: list[TextBlock]


class CustomToolResultEvent(TypedDict):
    type: Literal["user.custom_tool_result"]
    custom_tool_use_id: str
    content: list[TextBlock]


class StopReason(TypedDict):
    type: str  # end_turn | requires_action | retries_exhausted | budget_reached | ...
    event_ids: NotRequired[list[str]]


class SessionEvent(TypedDict, total=False):
    """Any received event; which keys are present depends on `type`."""

    id: str
    type: str
    processed_at: str | None
    content: list[dict[str, Any]]
    name: str
    input: dict[str, Any]
    custom_tool_use_id: str
    stop_reason: StopReason
    model_usage: dict[str, int]
    error: dict[str, Any]


ASK_USER_TOOL: CustomTool = {
    "type": "custom",
    "name": ASK_USER,
    "description": "Ask the user a question and wait for the answer",
    "input_schema": {
        "type": "object",
        "properties": {"question": {"type": "string"}},
        "required": ["question"],
    },
}

# Sessions need an environment even when the agent has no container tools.
DEFAULT_ENVIRONMENT: EnvironmentCreate = {
    "name": "woollama",
    "config": {"type": "cloud", "networking": {"type": "unrestricted"}},
}


@dataclass(frozen=True)
class AgentTurn:
    """What one user input led to: the session went idle, or paused on `ask_user`."""

    text: str
    status: Literal["completed", "requires_action"]
    question: str | None
    tool_use_id: str | None
    usage: dict[str, int]


def user_message(text: str) -> UserMessageEvent:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def tool_result(tool_use_id: str, text: str) -> CustomToolResultEvent:
    return {
        "type": "user.custom_tool_result",
        "custom_tool_use_id": tool_use_id,
        "content": [{"type": "text", "text": text}],
    }


def agent_tools(extra: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """`ask_user` first, then the caller's tools (custom unless they say otherwise)."""
    tools: list[dict[str, Any]] = [dict(ASK_USER_TOOL)]
    for tool in extra or ():
        tools.append({"type": "custom", **tool})
    return tools


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    blocks = content if isinstance(content, list) else []
    return "".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )


def error_for(status: int, raw: bytes) -> WoollamaError:
    """An Anthropic error answer (`{"type": "error", "error": {type, message}}`) as ours."""
    kind, message = "", ""
    try:
        err = json.loads(raw).get("error")
        if isinstance(err, dict):
            kind, message = str(err.get("type") or ""), str(err.get("message") or "")
    except (ValueError, AttributeError):
        pass
    detail = f"{PROVIDER}: {message or raw[:200].decode('utf-8', 'replace') or 'no details'}"
    detail += f" (HTTP {status}{', ' + kind if kind else ''})"
    if status == 400:
        return BadRequest(detail, code=kind or None)
    if status == 404:
        return NotFound(detail, code=kind or None)
    if status == 409:
        return Conflict(detail, code=kind or None)
    if status == 529 or kind == "overloaded_error":
        return BackendBusy(f"{detail}; retry later", code=kind or None)
    if status >= 500:
        return BackendError(detail, code=kind or None)
    # 401, 403, 429 and anything else the client may act on: relay status and message.
    return UpstreamError(
        status, error_body(detail, kind or "upstream_error", kind or None), PROVIDER
    )


def _session_error(error: Mapping[str, Any] | None) -> WoollamaError:
    error = error or {}
    kind = str(error.get("type") or "unknown_error")
    message = f"{PROVIDER}: the agent stopped after an error: {error.get('message') or kind}"
    if kind == "model_overloaded_error":
        return BackendBusy(message, code=kind)
    if kind == "model_rate_limited_error":
        return UpstreamError(429, error_body(message, "rate_limit_error", kind), PROVIDER)
    return BackendError(message, code=kind)


class TurnFold:
    """Folds streamed events into the `AgentTurn` that our sent events started.

    The stream is opened before sending and delivers only later events, but another
    client's activity could still appear, so nothing counts until the echo of one of
    our own sent events is seen.
    """

    def __init__(self, sent_ids: Iterable[str]):
        self._sent = set(sent_ids)
        self._started = not self._sent  # an API that echoes no ids: take what comes
        self._texts: list[str] = []
        self._tool_uses: dict[str, SessionEvent] = {}
        self._usage = dict.fromkeys(USAGE_KEYS, 0)
        self._error: dict[str, Any] | None = None

    def feed(self, data: str) -> AgentTurn | None:
        try:
            event = json.loads(data)
        except ValueError:
            return None  # heartbeats and other non-JSON frames
        if not isinstance(event, dict):
            return None
        kind = event.get("type")
        if not self._started:
            self._started = event.get("id") in self._sent
            return None
        if kind == "agent.message":
            if text := text_of(event.get("content")):
                self._texts.append(text)
        elif kind == "agent.custom_tool_use":
            self._tool_uses[str(event.get("id"))] = event
        elif kind == "span.model_request_end":
            usage = event.get("model_usage") or {}
            for key in USAGE_KEYS:
                if isinstance(usage.get(key), int):
                    self._usage[key] += usage[key]
        elif kind == "session.error":
            self._error = event.get("error")
        elif kind == "session.status_idle":
            return self._idle(event.get("stop_reason") or {"type": "end_turn"})
        elif kind == "session.status_terminated":
            raise (
                _session_error(self._error)
                if self._error
                else BackendError(f"{PROVIDER}: the session terminated and cannot be used any more")
            )
        elif kind == "session.deleted":
            raise NotFound(f"{PROVIDER}: the session was deleted while the agent was working")
        return None

    def _idle(self, stop: Mapping[str, Any]) -> AgentTurn:
        reason = stop.get("type")
        if reason == "retries_exhausted":
            raise _session_error(self._error)
        if reason == "budget_reached":
            raise BackendError(f"{PROVIDER}: the session reached its budget; raise or remove it")
        text = "\n\n".join(self._texts)
        if reason != "requires_action":
            return AgentTurn(text, "completed", None, None, self._usage)
        ids = [str(i) for i in stop.get("event_ids") or []]
        asks = [i for i in ids if self._tool_uses.get(i, {}).get("name") == ASK_USER]
        tool_use_id = (asks or ids or [None])[0]
        use = self._tool_uses.get(tool_use_id or "", {})
        question = use.get("input", {}).get("question") if use.get("name") == ASK_USER else None
        return AgentTurn(
            text, "requires_action", str(question) if question else None, tool_use_id, self._usage
        )


def transcript_of(events: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """User and assistant turns; an `ask_user` question and its answer count as turns."""
    turns: list[dict[str, str]] = []
    for event in events:
        kind = event.get("type")
        if kind in ("user.message", "agent.message"):
            role, text = kind.split(".")[0], text_of(event.get("content"))
        elif kind == "agent.custom_tool_use" and event.get("name") == ASK_USER:
            role, text = "agent", str((event.get("input") or {}).get("question") or "")
        elif kind == "user.custom_tool_result":
            role, text = "user", text_of(event.get("content"))
        else:
            continue
        role = "assistant" if role == "agent" else "user"
        if not text:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text  # one turn may span several events
        else:
            turns.append({"role": role, "content": text})
    return turns
