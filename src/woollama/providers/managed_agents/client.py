"""Anthropic Managed Agents: a hosted, stateful agent session per conversation.

The session owns the transcript; woollama keeps only its id. One turn is: open the
session's event stream, send the user event, and read until the session goes idle
(finished, or paused on the `ask_user` custom tool, which `answer()` resolves).
The stream is opened first because it delivers only events that happen after it
opens; sending first could lose the start of a fast turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from woollama.errors import BackendError, BackendTimeout, BadRequest
from woollama.providers.anthropic.translate import ANTHROPIC_VERSION
from woollama.providers.http import client_session, load_aiohttp, proxy_for
from woollama.providers.managed_agents.wire import (
    BETA,
    DEFAULT_ENVIRONMENT,
    PROVIDER,
    AgentCreate,
    AgentTurn,
    CustomToolResultEvent,
    SessionCreate,
    SessionEvent,
    TurnFold,
    UserMessageEvent,
    agent_tools,
    error_for,
    tool_result,
    transcript_of,
    user_message,
)
from woollama.providers.sse import SSEDecoder

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AgentTurn", "ManagedAgentsClient"]

_PAGE_LIMIT = 1000


class ManagedAgentsClient:
    """Async client for the parts of the Managed Agents API a conversation needs."""

    def __init__(
        self,
        base_url: str = "https://api.anthropic.com",
        api_key_env: str = "ANTHROPIC_API_KEY",
        env: Mapping[str, str] = os.environ,
        timeout: float = 600,
    ):
        self._base = base_url.rstrip("/")
        self._key_env = api_key_env
        self._env = env
        self._timeout = timeout
        self._proxy = proxy_for(self._base)
        self._session: aiohttp.ClientSession | None = None
        # Agents and environments are persistent, reusable resources: create each
        # configuration once per process instead of once per conversation.
        self._environment_id: str | None = None
        self._agents: dict[str, str] = {}
        self._setup = asyncio.Lock()

    # -- public API ----------------------------------------------------------------

    async def create_session(
        self,
        model: str,
        *,
        system: str | None = None,
        metadata: dict | None = None,
        tools: list[dict] | None = None,
    ) -> str:
        """Create (or reuse) the agent and environment, then a session; its id."""
        if not model:
            raise BadRequest(f"{PROVIDER}: a model is required, e.g. claude-agent/claude-opus-5")
        self._headers()  # a missing key fails before anything is created
        async with self._setup:
            environment_id = await self._environment()
            agent_id = await self._agent(model, system, tools)
        body: SessionCreate = {"agent": agent_id, "environment_id": environment_id}
        if metadata:
            # The API takes string values only.
            body["metadata"] = {str(k): str(v) for k, v in metadata.items()}
        return _id_of(await self._call("POST", "/v1/sessions", body), "session")

    async def send(self, session_id: str, text: str) -> AgentTurn:
        """Send a user message and run the session until it idles or asks the user."""
        return await self._turn(session_id, user_message(text))

    async def answer(self, session_id: str, tool_use_id: str, answer: str) -> AgentTurn:
        """Answer a pending `ask_user` call and run the session on from there."""
        return await self._turn(session_id, tool_result(tool_use_id, answer))

    async def transcript(self, session_id: str) -> list[dict]:
        """The session's conversation, oldest first, as `{"role", "content"}` messages."""
        events: list[SessionEvent] = []
        params = {"limit": str(_PAGE_LIMIT)}
        while True:
            page = await self._call("GET", f"{_path(session_id)}/events", params=params)
            data = page.get("data")
            if not isinstance(data, list):
                raise BackendError(f"{PROVIDER}: the event list had no data array")
            events.extend(e for e in data if isinstance(e, dict))
            cursor = page.get("next_page")
            if not cursor or not data:
                return transcript_of(events)
            params = {**params, "page": str(cursor)}

    async def delete(self, session_id: str) -> None:
        """Delete the session with its transcript; the API keeps nothing afterwards."""
        await self._call("DELETE", _path(session_id))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- setup ---------------------------------------------------------------------

    async def _environment(self) -> str:
        if self._environment_id is None:
            created = await self._call("POST", "/v1/environments", DEFAULT_ENVIRONMENT)
            self._environment_id = _id_of(created, "environment")
        return self._environment_id

    async def _agent(self, model: str, system: str | None, tools: list[dict] | None) -> str:
        body: AgentCreate = {
            "name": f"woollama {model}",
            "model": model,
            "tools": agent_tools(tools),
        }
        if system:
            body["system"] = system
        key = json.dumps(body, sort_keys=True)
        if key not in self._agents:
            self._agents[key] = _id_of(await self._call("POST", "/v1/agents", body), "agent")
        return self._agents[key]

    # -- one turn ------------------------------------------------------------------

    async def _turn(
        self, session_id: str, event: UserMessageEvent | CustomToolResultEvent
    ) -> AgentTurn:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._stream(session_id) as stream:
                    sent = await self._call(
                        "POST", f"{_path(session_id)}/events", {"events": [event]}
                    )
                    data = sent.get("data") if isinstance(sent.get("data"), list) else []
                    fold = TurnFold(str(e["id"]) for e in data if isinstance(e, dict) and "id" in e)
                    return await self._read_turn(stream, fold)
        except TimeoutError:
            raise BackendTimeout(
                f"{PROVIDER}: the agent did not finish its turn within {self._timeout:g} s"
            ) from None

    async def _read_turn(self, stream: aiohttp.ClientResponse, fold: TurnFold) -> AgentTurn:
        decoder = SSEDecoder()
        with self._guard("reading the event stream"):
            async for chunk in stream.content.iter_any():
                for sse in decoder.feed(chunk):
                    if (turn := fold.feed(sse.data)) is not None:
                        return turn
        raise BackendError(f"{PROVIDER}: the event stream ended before the session went idle")

    @contextlib.asynccontextmanager
    async def _stream(self, session_id: str) -> AsyncIterator[aiohttp.ClientResponse]:
        headers = {**self._headers(), "accept": "text/event-stream"}
        url = f"{self._base}{_path(session_id)}/events/stream"
        session = await self._http()
        with self._guard("opening the event stream"):
            response = await session.get(
                url, headers=headers, proxy=self._proxy, allow_redirects=False
            )
        try:
            if response.status >= 400:
                with self._guard("reading an error"):
                    raw = await response.read()
                raise error_for(response.status, raw)
            yield response
        finally:
            # close(), not release(): a half-read stream must not go back to the pool.
            response.close()

    # -- HTTP ----------------------------------------------------------------------

    async def _http(self) -> aiohttp.ClientSession:
        # Created lazily so the session binds to the loop that actually uses it.
        if self._session is None or self._session.closed:
            await load_aiohttp()
            if self._session is None or self._session.closed:
                self._session = client_session(self._timeout)
        return self._session

    def _headers(self) -> dict[str, str]:
        # Read on every call so a key exported after start is picked up.
        key = self._env.get(self._key_env)
        if not key:
            raise BadRequest(
                f"claude-agent models need an Anthropic API key: set the environment "
                f"variable {self._key_env} before starting woollama",
                code="missing_api_key",
            )
        return {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
            "anthropic-beta": BETA,
            "content-type": "application/json",
        }

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = self._headers()
        data = json.dumps(body).encode() if body is not None else None
        session = await self._http()
        with self._guard(f"{method} {path}"):
            async with session.request(
                method,
                self._base + path,
                data=data,
                params=params,
                headers=headers,
                proxy=self._proxy,
                # No redirects: the API key must never follow one to another host.
                allow_redirects=False,
            ) as response:
                status, raw = response.status, await response.read()
        if status >= 400:
            raise error_for(status, raw)
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise BackendError(f"{PROVIDER}: {method} {path} answered something that is not JSON")
        return answer

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Transport failures as woollama errors that say what was being done."""
        import aiohttp  # loaded with the session, which every guarded call has made

        try:
            yield
        except TimeoutError:
            raise BackendTimeout(
                f"{PROVIDER}: no answer within {self._timeout:g} s while {what}"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise BackendError(
                f"{PROVIDER} is unreachable at {self._base} ({exc.os_error}); check the "
                "network, any proxy settings, and the base_url"
            ) from None
        except aiohttp.ClientError as exc:
            raise BackendError(f"{PROVIDER}: {what} failed ({exc})") from None


def _path(session_id: str) -> str:
    # Ids are opaque to us; quoting keeps a hostile one from reaching another endpoint.
    return "/v1/sessions/" + quote(session_id, safe="")


def _id_of(obj: Mapping[str, Any], what: str) -> str:
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise BackendError(f"{PROVIDER}: the created {what} has no id")
    return value
