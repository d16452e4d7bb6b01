"""Any backend that speaks the OpenAI HTTP API (Ollama, OpenAI, Groq, vLLM, llama.cpp, ...)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from woollama.config.models import InferencerConfig
from woollama.errors import BackendError, BackendTimeout
from woollama.providers.base import NO_HEADERS, Upstream, backoff_headers
from woollama.providers.http import CONNECT_TIMEOUT, HttpProvider
from woollama.providers.http1 import Http1Pool, Origin, encode_json
from woollama.providers.tokenizer import TokenCount, Tokenizer

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)


class AiohttpUpstream:
    """An aiohttp response seen through the `Upstream` protocol."""

    def __init__(self, response: aiohttp.ClientResponse, provider: str):
        self._response = response
        self._provider = provider
        self.status = response.status
        self.content_type = response.headers.get("content-type", "")
        # Only an error is relayed with headers, so a success skips the scan.
        self.headers = backoff_headers(response.headers) if self.status >= 400 else NO_HEADERS

    async def read(self) -> bytes:
        import aiohttp  # loaded: this answer came through it

        try:
            return await self._response.read()
        except TimeoutError:
            raise BackendTimeout(f"{self._provider}: timed out reading the answer") from None
        except aiohttp.ClientError as exc:
            raise BackendError(f"{self._provider}: connection lost while reading ({exc})") from None
        finally:
            self._response.release()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        import aiohttp  # loaded: this answer came through it

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError:
            raise BackendTimeout(
                f"{self._provider}: stream stalled past the read timeout"
            ) from None
        except aiohttp.ClientError as exc:
            raise BackendError(f"{self._provider}: stream ended abruptly ({exc})") from None

    async def aclose(self) -> None:
        # close(), not release(): a half-read stream must not go back to the pool.
        self._response.close()


class OpenAICompatProvider(HttpProvider):
    _tokenizer: Tokenizer | None = None

    def __init__(self, name: str, config: InferencerConfig, env: Mapping[str, str] = os.environ):
        super().__init__(name, config, env)
        # The pass-through's POSTs to a plain-HTTP backend skip aiohttp's generality.
        origin = None if self._proxy else Origin.of(config.base_url)
        self._lean = (
            Http1Pool(
                origin,
                provider=name,
                base_url=config.base_url,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=config.timeout,
            )
            if origin is not None
            else None
        )

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = self._api_key()
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        if self.config.extra_body:
            body = {**self.config.extra_body, **body}
        if self._lean is not None:
            return await self._lean.post(endpoint, encode_json(body), self._headers())
        return AiohttpUpstream(await self._post(endpoint, body), self.name)

    async def aclose(self) -> None:
        if self._lean is not None:
            await self._lean.aclose()
        await super().aclose()

    async def count_tokens(self, chat: dict[str, Any]) -> TokenCount | None:
        """The prompt's tokens by the backend's own tokenizer, where it exposes one."""
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(
                lambda path, body, root: self._post(path, body, root=root), self.config.base_url
            )
        return await self._tokenizer.count(chat)
