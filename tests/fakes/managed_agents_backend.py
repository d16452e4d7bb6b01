"""A protocol-faithful fake of Anthropic's Managed Agents API for tests.

Written from Anthropic's public reference for the `managed-agents-2026-04-01` beta:
`POST /v1/environments`, `POST /v1/agents` (model, system and custom tools live on
the agent), `POST/GET/DELETE /v1/sessions[/{id}]`, `POST /v1/sessions/{id}/archive`,
and the session events: `POST .../events` (`{"events": [...]}`, answered with the
sent events under `data`), `GET .../events` (paginated with `limit`, `page` and
`next_page`) and `GET .../events/stream` (SSE, `event: <type>` + `data: <json>`, only
events after the stream opened). A turn emits `session.status_running`,
`span.model_request_start`, `agent.message` or `agent.custom_tool_use`,
`span.model_request_end` (with `model_usage`) and `session.status_idle` whose
`stop_reason` is `end_turn` or `requires_action` with the blocking `event_ids`.
Every request needs `x-api-key`, `anthropic-version` and the beta header; errors have
Anthropic's `{"type": "error", "error": {"type", "message"}}` shape.

    with FakeManagedAgents() as fake:
        fake.script_ask("Which city?")        # the next user turn pauses on ask_user
        fake.script_error(529, "overloaded_error", "Overloaded")  # the next request fails
        client = ManagedAgentsClient(base_url=fake.base_url, env={"ANTHROPIC_API_KEY": "k"})

Unscripted, a user message is answered with ``"agent heard: <text>"`` plus a recall of
the session's earlier user turns (``"agent heard: b (earlier: a)"``); an `ask_user`
answer is answered with ``"thanks for: <answer>"``. Choices where the reference is
silent: a missing beta header is a 400; a tool result whose id is not pending (unknown
or already answered) is a 400; a user message while a tool call waits is a 400.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from ._threaded import Receive, Recorded, Recorder, Scope, Send, ThreadedServer, read_request

__all__ = ["BETA", "FakeManagedAgents", "Recorded"]

Event = dict[str, Any]

BETA = "managed-agents-2026-04-01"
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_AGENT_FIELDS = frozenset(
    {"name", "model", "system", "tools", "mcp_servers", "skills", "description", "metadata"}
)
_SESSION_FIELDS = frozenset(
    {"agent", "environment_id", "title", "resources", "vault_ids", "metadata"}
)


@dataclass(frozen=True)
class _Ask:
    question: str
    text: str | None = None


@dataclass(frozen=True)
class _Stall:
    """The turn starts running and never goes idle."""


class _Reject(Exception):
    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class _Session:
    id: str
    agent: dict[str, Any]
    environment_id: str
    metadata: dict[str, str]
    title: str | None
    created_at: str
    events: list[Event] = field(default_factory=list)
    status: str = "idle"
    pending: dict[str, Event] = field(default_factory=dict)  # custom tool use id → event
    archived_at: str | None = None
    inbox: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    subscribers: set[asyncio.Queue[Event | None]] = field(default_factory=set)
    worker: asyncio.Task[None] | None = None


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(content: Any) -> str:
    blocks = content if isinstance(content, list) else []
    return "".join(str(b.get("text", "")) for b in blocks if isinstance(b, dict))


def _sse(event: Event) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _check_text_content(content: Any, where: str) -> None:
    if not isinstance(content, list) or not content:
        raise _Reject(400, "invalid_request_error", f"{where}.content: Field required")
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _Reject(400, "invalid_request_error", f"{where}.content: expected text blocks")
        if not isinstance(block.get("text"), str) or not block["text"]:
            raise _Reject(400, "invalid_request_error", f"{where}: text blocks must be non-empty")


def _check_agent(body: Any) -> None:
    if not isinstance(body, dict):
        raise _Reject(400, "invalid_request_error", "Request body must be a JSON object")
    for key in body:
        if key not in _AGENT_FIELDS:
            raise _Reject(400, "invalid_request_error", f"{key}: Extra inputs are not permitted")
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise _Reject(400, "invalid_request_error", "name: Field required")
    model = body.get("model")
    if not (isinstance(model, str) and model) and not (isinstance(model, dict) and "id" in model):
        raise _Reject(400, "invalid_request_error", "model: Field required")
    names: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in ("agent_toolset_20260401", "mcp_toolset"):
            continue
        if kind != "custom":
            raise _Reject(400, "invalid_request_error", f"tools.{i}.type: unknown tool type")
        if not _TOOL_NAME.match(str(tool.get("name", ""))) or tool["name"] in names:
            raise _Reject(400, "invalid_request_error", f"tools.{i}.name: invalid or duplicate")
        if not tool.get("description") or not isinstance(tool.get("input_schema"), dict):
            raise _Reject(
                400, "invalid_request_error", f"tools.{i}: description and input_schema required"
            )
        names.add(tool["name"])


class _App:
    """The ASGI app; all session state lives on the server thread's loop."""

    def __init__(self, fake: FakeManagedAgents):
        self._fake = fake
        self.environments: dict[str, Event] = {}
        self.agents: dict[str, Event] = {}
        self.sessions: dict[str, _Session] = {}

    def close_streams(self) -> None:
        for session in self.sessions.values():
            for queue in session.subscribers:
                queue.put_nowait(None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        if request is None:
            return
        self._fake.record(request)
        method, path, headers, body = request.method, request.path, request.headers, request.body
        query = request.query
        request_id = _id("req_")

        async def answer(status: int, obj: Any) -> None:
            head = [(b"content-type", b"application/json"), (b"request-id", request_id.encode())]
            await send({"type": "http.response.start", "status": status, "headers": head})
            await send({"type": "http.response.body", "body": json.dumps(obj).encode()})

        try:
            self._authorize(headers)
            if self._fake.scripted_errors:
                raise self._fake.scripted_errors.popleft()
            parts = path.strip("/").split("/")
            if method == "GET" and parts[-2:] == ["events", "stream"] and len(parts) == 5:
                await self._stream(self._session(parts[2]), receive, send, request_id)
                return
            await answer(200, self._route(method, parts, body, parse_qs(query)))
        except _Reject as r:
            error = {"type": r.kind, "message": r.message}
            await answer(r.status, {"type": "error", "error": error, "request_id": request_id})

    def _authorize(self, headers: Mapping[str, str]) -> None:
        key = headers.get("x-api-key")
        if not key or (self._fake.api_key is not None and key != self._fake.api_key):
            raise _Reject(401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in headers:
            raise _Reject(400, "invalid_request_error", "anthropic-version: header is required")
        betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",")]
        if BETA not in betas:
            raise _Reject(
                400,
                "invalid_request_error",
                f"This endpoint is in beta: requests must send {BETA} in the anthropic-beta header",
            )

    def _route(self, method: str, parts: list[str], body: Any, query: dict[str, list[str]]) -> Any:
        match method, parts:
            case "POST", ["v1", "environments"]:
                return self._create_environment(body)
            case "POST", ["v1", "agents"]:
                return self._create_agent(body)
            case "POST", ["v1", "sessions"]:
                return self._create_session(body)
            case "GET", ["v1", "sessions", sid]:
                return self._session_object(self._session(sid))
            case "DELETE", ["v1", "sessions", sid]:
                return self._delete(self._session(sid))
            case "POST", ["v1", "sessions", sid, "archive"]:
                session = self._session(sid)
                session.archived_at = session.archived_at or _now()
                return self._session_object(session)
            case "POST", ["v1", "sessions", sid, "events"]:
                return self._send_events(self._session(sid), body)
            case "GET", ["v1", "sessions", sid, "events"]:
                return self._list_events(self._session(sid), query)
        raise _Reject(404, "not_found_error", f"Not found: {method} /{'/'.join(parts)}")

    # -- resources -----------------------------------------------------------------

    def _create_environment(self, body: Any) -> Event:
        if not isinstance(body, dict) or not body.get("name"):
            raise _Reject(400, "invalid_request_error", "name: Field required")
        env = {"type": "environment", "id": _id("env_"), "name": body["name"],
               "config": body.get("config") or {"type": "cloud"}, "description": "",
               "metadata": body.get("metadata") or {}, "created_at": _now(),
               "updated_at": _now(), "archived_at": None}  # fmt: skip
        self.environments[env["id"]] = env
        return env

    def _create_agent(self, body: Any) -> Event:
        _check_agent(body)
        model = body["model"]
        agent = {"type": "agent", "id": _id("agent_"), "version": 1, "name": body["name"],
                 "model": model if isinstance(model, dict) else {"id": model, "speed": "standard"},
                 "system": body.get("system"), "tools": body.get("tools") or [],
                 "mcp_servers": [], "skills": [], "description": body.get("description"),
                 "metadata": body.get("metadata") or {}, "created_at": _now(),
                 "updated_at": _now(), "archived_at": None}  # fmt: skip
        self.agents[agent["id"]] = agent
        return agent

    def _create_session(self, body: Any) -> Event:
        if not isinstance(body, dict):
            raise _Reject(400, "invalid_request_error", "Request body must be a JSON object")
        for key in body:
            if key not in _SESSION_FIELDS:
                raise _Reject(
                    400, "invalid_request_error", f"{key}: Extra inputs are not permitted"
                )
        ref = body.get("agent")
        agent_id = ref.get("id") if isinstance(ref, dict) else ref
        if not agent_id or not body.get("environment_id"):
            raise _Reject(400, "invalid_request_error", "agent and environment_id are required")
        if agent_id not in self.agents:
            raise _Reject(404, "not_found_error", f"agent {agent_id} not found")
        if body["environment_id"] not in self.environments:
            raise _Reject(404, "not_found_error", f"environment {body['environment_id']} not found")
        metadata = body.get("metadata") or {}
        if len(metadata) > 8 or not all(isinstance(v, str) for v in metadata.values()):
            raise _Reject(400, "invalid_request_error", "metadata: at most 8 string values")
        session = _Session(_id("sesn_"), self.agents[agent_id], body["environment_id"],
                           dict(metadata), body.get("title"), _now())  # fmt: skip
        session.worker = asyncio.ensure_future(self._work(session))
        self.sessions[session.id] = session
        return self._session_object(session)

    def _session(self, sid: str) -> _Session:
        if sid not in self.sessions:
            raise _Reject(404, "not_found_error", f"session {sid} not found")
        return self.sessions[sid]

    def _session_object(self, s: _Session) -> Event:
        usage = {"input_tokens": 0, "output_tokens": 0}
        for e in s.events:
            for k in usage:
                usage[k] += e.get("model_usage", {}).get(k, 0)
        return {"type": "session", "id": s.id, "title": s.title, "status": s.status,
                "agent": s.agent, "environment_id": s.environment_id, "metadata": s.metadata,
                "resources": [], "usage": usage, "created_at": s.created_at,
                "updated_at": _now(), "archived_at": s.archived_at}  # fmt: skip

    def _delete(self, session: _Session) -> Event:
        del self.sessions[session.id]
        if session.worker is not None:
            session.worker.cancel()
        deleted = {"type": "session.deleted", "id": _id("sevt_"), "processed_at": _now()}
        for queue in session.subscribers:
            queue.put_nowait(deleted)
            queue.put_nowait(None)
        return {"id": session.id, "type": "session_deleted"}

    # -- events --------------------------------------------------------------------

    def _send_events(self, s: _Session, body: Any) -> Event:
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not events:
            raise _Reject(400, "invalid_request_error", "events: Field required")
        if s.archived_at:
            raise _Reject(400, "invalid_request_error", "session is archived and read-only")
        # Validate every event before accepting any, so a rejected request changes nothing.
        answered: set[str] = set()
        for i, event in enumerate(events):
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "user.message":
                _check_text_content(event.get("content"), f"events.{i}")
                if s.pending:
                    raise _Reject(400, "invalid_request_error",
                                  "session is waiting for user.custom_tool_result for "
                                  f"{', '.join(s.pending)}; send that first")  # fmt: skip
            elif kind == "user.custom_tool_result":
                use_id = event.get("custom_tool_use_id")
                if use_id not in s.pending or use_id in answered:
                    raise _Reject(
                        400,
                        "invalid_request_error",
                        f"events.{i}.custom_tool_use_id: {use_id} is not a pending "
                        "agent.custom_tool_use event (unknown or already answered)",
                    )
                _check_text_content(event.get("content"), f"events.{i}")
                answered.add(use_id)
            elif kind != "user.interrupt":
                raise _Reject(
                    400, "invalid_request_error", f"events.{i}.type: {kind!r} unsupported"
                )
        receipts = []
        for event in events:
            stored = {**event, "id": _id("sevt_"), "processed_at": None}
            if stored["type"] == "user.custom_tool_result":
                s.pending.pop(stored["custom_tool_use_id"])
                stored["processed_at"] = _now()  # processed on receipt, per the reference
            receipts.append(dict(stored))
            self._emit(s, stored)
            if stored["type"] != "user.interrupt":
                s.inbox.put_nowait(stored)
        return {"data": receipts}

    def _list_events(self, s: _Session, query: dict[str, list[str]]) -> Event:
        limit = min(int((query.get("limit") or ["1000"])[0]), self._fake.page_size)
        start = int((query.get("page") or ["page_0"])[0].removeprefix("page_"))
        data = s.events[start : start + limit]
        more = start + limit < len(s.events)
        return {"data": data, "next_page": f"page_{start + limit}" if more else None}

    def _emit(self, s: _Session, event: Event) -> Event:
        event.setdefault("id", _id("sevt_"))
        event.setdefault("processed_at", _now())
        s.events.append(event)
        for queue in s.subscribers:
            queue.put_nowait(event)
        return event

    async def _stream(self, s: _Session, receive: Receive, send: Send, request_id: str) -> None:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        # Subscribe before the headers go out: a client that has the headers is
        # guaranteed to see every event that follows.
        s.subscribers.add(queue)
        head = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"request-id", request_id.encode())]  # fmt: skip
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": head})
            while True:
                item = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({item, gone}, return_when=asyncio.FIRST_COMPLETED)
                if item not in done:
                    item.cancel()
                    return
                event = item.result()
                if event is None:
                    break
                await send({"type": "http.response.body", "body": _sse(event), "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            s.subscribers.discard(queue)
            gone.cancel()

    # -- the agent -----------------------------------------------------------------

    async def _work(self, s: _Session) -> None:
        while True:
            event = await s.inbox.get()
            event["processed_at"] = event["processed_at"] or _now()
            await self._turn(s, event)

    async def _turn(self, s: _Session, event: Event) -> None:
        directive = self._fake.next_turn() if event["type"] == "user.message" else None
        s.status = "running"
        self._emit(s, {"type": "session.status_running"})
        if isinstance(directive, _Stall):
            return
        start = self._emit(s, {"type": "span.model_request_start"})
        text = _text(event.get("content"))
        stop: Event = {"type": "end_turn"}
        if isinstance(directive, _Ask):
            if directive.text:
                self._emit(s, {"type": "agent.message",
                               "content": [{"type": "text", "text": directive.text}]})  # fmt: skip
            use = self._emit(s, {"type": "agent.custom_tool_use", "name": "ask_user",
                                 "input": {"question": directive.question}})  # fmt: skip
            s.pending[use["id"]] = use
            stop = {"type": "requires_action", "event_ids": [use["id"]]}
            reply = directive.question
        else:
            if event["type"] == "user.message":
                before = s.events[: s.events.index(event)]
                earlier = [_text(e["content"]) for e in before if e["type"] == "user.message"]
                reply = f"agent heard: {text}"
                reply += f" (earlier: {'; '.join(earlier)})" if earlier else ""
            else:
                reply = f"thanks for: {text}"
            self._emit(s, {"type": "agent.message", "content": [{"type": "text", "text": reply}]})
        prompt = sum(len(_text(e.get("content")).split()) for e in s.events)
        usage = {"input_tokens": prompt, "output_tokens": len(reply.split()),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}  # fmt: skip
        self._emit(s, {"type": "span.model_request_end", "model_request_start_id": start["id"],
                       "is_error": False, "model_usage": usage})  # fmt: skip
        s.status = "idle"
        self._emit(s, {"type": "session.status_idle", "stop_reason": stop})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class FakeManagedAgents(ThreadedServer):
    """A fake Managed Agents API on loopback. Single use: start once, stop once.

    ``api_key``: the only key accepted (None accepts any non-empty key).
    ``page_size``: the most events one ``GET .../events`` page returns.
    """

    def __init__(self, *, api_key: str | None = None, page_size: int = 1000):
        self.api_key = api_key
        self.page_size = page_size
        self._log = Recorder()
        self.requests = self._log.requests
        self.scripted_errors: deque[_Reject] = deque()
        self._turns: deque[_Ask | _Stall] = deque()
        self._app = _App(self)
        # Open event streams would otherwise hold graceful shutdown for its timeout.
        super().__init__(self._app, label="Managed Agents", on_stop=self._app.close_streams)
        self.base_url = self.origin

    # -- scripting and inspection ------------------------------------------------

    def script_ask(self, question: str, *, text: str | None = None) -> None:
        """The next user message turn calls ``ask_user(question)`` (after ``text``)."""
        self._turns.append(_Ask(question, text))

    def script_stall(self) -> None:
        """The next user message turn starts running and never goes idle."""
        self._turns.append(_Stall())

    def script_error(self, status: int, type: str, message: str) -> None:
        """The next request (of any kind) is answered with this Anthropic error."""
        self.scripted_errors.append(_Reject(status, type, message))

    def next_turn(self) -> _Ask | _Stall | None:
        return self._turns.popleft() if self._turns else None

    def record(self, request: Recorded) -> None:
        self._log.record(request)

    def wait_requests(self, count: int, timeout: float = 5.0) -> bool:
        return self._log.wait_requests(count, timeout)

    def requests_to(self, method: str, path_pattern: str) -> list[Recorded]:
        return [
            r for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path)
        ]

    @property
    def session_ids(self) -> list[str]:
        return list(self._app.sessions)
