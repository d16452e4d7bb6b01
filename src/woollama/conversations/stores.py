"""Clients for external conversation stores, in the original woollama's two contracts.

MCP store: tools create_thread, get_thread, append_turn, delete_thread on a server
from mcp.json, each answering a JSON string in a text block. HTTP store:
PUT/GET/PATCH/DELETE {url}/threads/{id}.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from woollama.errors import BackendError, NotFound, ToolUnavailable, WoollamaError
from woollama.providers.http import load_aiohttp
from woollama.tools import Health, ToolRegistry, result_text

if TYPE_CHECKING:
    import aiohttp


class ThreadStore(Protocol):
    async def create(self) -> str: ...

    async def get(self, thread_id: str) -> list[dict[str, Any]]: ...

    async def append(self, thread_id: str, messages: list[dict[str, Any]]) -> None: ...

    async def delete(self, thread_id: str) -> None: ...

    async def aclose(self) -> None: ...


class McpThreadStore:
    def __init__(self, registry: ToolRegistry, server: str):
        self.registry = registry
        self.server = server

    async def _call(self, tool: str, arguments: dict[str, Any]) -> Any:
        await self.registry.ready([self.server])  # just started: the store may be connecting
        entry = self.registry.get(f"{self.server}.{tool}")
        if entry is None:
            connection = self.registry.connections.get(self.server)
            if connection is not None and connection.health is not Health.CONNECTED:
                raise ToolUnavailable(f"conversation store: {connection.reason()}")
            raise BackendError(f"conversation store {self.server!r} has no tool {tool!r}")
        result = await self.registry.call(entry, arguments)
        text = result_text(result)
        if result.is_error:
            if "not found" in text.lower() or "keyerror" in text.lower():
                raise NotFound(f"conversation store {self.server!r}: {text}")
            raise BackendError(f"conversation store {self.server!r}: {tool} failed: {text}")
        try:
            return json.loads(text)
        except ValueError:
            return text  # a bare id is accepted as well as a JSON string

    async def create(self) -> str:
        created = await self._call("create_thread", {})
        if isinstance(created, dict):
            created = created.get("thread_id") or created.get("id")
        if not isinstance(created, str) or not created:
            raise BackendError(f"conversation store {self.server!r}: create_thread gave no id")
        return created

    async def get(self, thread_id: str) -> list[dict[str, Any]]:
        messages = await self._call("get_thread", {"thread_id": thread_id})
        if isinstance(messages, dict):
            messages = messages.get("messages")
        if not isinstance(messages, list):
            raise BackendError(f"conversation store {self.server!r}: get_thread gave no list")
        return messages

    async def append(self, thread_id: str, messages: list[dict[str, Any]]) -> None:
        await self._call("append_turn", {"thread_id": thread_id, "messages": messages})

    async def delete(self, thread_id: str) -> None:
        await self._call("delete_thread", {"thread_id": thread_id})

    async def aclose(self) -> None:
        return None


class HttpThreadStore:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use, inside the running loop
            aiohttp = await load_aiohttp()
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def _request(self, method: str, thread_id: str, body: Any = None) -> Any:
        url = f"{self.url}/threads/{thread_id}"
        session = await self._client()
        import aiohttp  # loaded with the session

        try:
            async with session.request(method, url, json=body) as response:
                if response.status == 404:
                    raise NotFound(f"conversation store has no thread {thread_id!r}")
                if response.status >= 400:
                    detail = (await response.text())[:200]
                    raise BackendError(
                        f"conversation store {method} {url} answered {response.status}: {detail}"
                    )
                if response.status == 204:
                    return None
                return await response.json(content_type=None)
        except WoollamaError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise BackendError(f"conversation store at {self.url} failed: {exc}") from None

    async def create(self) -> str:
        thread_id = f"thread_{secrets.token_hex(8)}"
        await self._request("PUT", thread_id)
        return thread_id

    async def get(self, thread_id: str) -> list[dict[str, Any]]:
        messages = await self._request("GET", thread_id)
        if isinstance(messages, dict):
            messages = messages.get("messages")
        if not isinstance(messages, list):
            raise BackendError("conversation store answered GET without a message list")
        return messages

    async def append(self, thread_id: str, messages: list[dict[str, Any]]) -> None:
        await self._request("PATCH", thread_id, {"messages": messages})

    async def delete(self, thread_id: str) -> None:
        await self._request("DELETE", thread_id)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
