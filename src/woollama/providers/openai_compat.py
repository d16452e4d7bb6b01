"""Any backend that speaks the OpenAI HTTP API (Ollama, OpenAI, Groq, vLLM, llama.cpp, ...)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from woollama.config.models import InferencerConfig
from woollama.errors import BackendError, BackendTimeout, BadRequest
from woollama.providers.http import client_session, discover_models, post_json, proxy_for

log = logging.getLogger(__name__)


class AiohttpUpstream:
    """An aiohttp response seen through the `Upstream` protocol."""

    def __init__(self, response: aiohttp.ClientResponse, provider: str):
        self._response = response
        self._provider = provider
        self.status = response.status
        self.content_type = response.headers.get("content-type", "")

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except TimeoutError:
            raise BackendTimeout(f"{self._provider}: timed out reading the answer") from None
        except aiohttp.ClientError as exc:
            raise BackendError(f"{self._provider}: connection lost while reading ({exc})") from None
        finally:
            self._response.release()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
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


class OpenAICompatProvider:
    def __init__(self, name: str, config: InferencerConfig, env: Mapping[str, str] = os.environ):
        self.name = name
        self.config = config
        self._env = env
        self._session = client_session(config.timeout)
        self._proxy = proxy_for(config.base_url)

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        var = self.config.api_key_env
        if var:
            # Read on every call so a key exported after start is picked up.
            key = self._env.get(var)
            if not key:
                raise BadRequest(
                    f"provider {self.name!r} needs an API key: set the environment "
                    f"variable {var} before starting woollama",
                    code="missing_api_key",
                )
            headers["authorization"] = f"Bearer {key}"
        return headers

    async def open(self, endpoint: str, body: dict[str, Any]) -> AiohttpUpstream:
        headers = self._headers()
        if self.config.extra_body:
            body = {**self.config.extra_body, **body}
        response = await post_json(
            self._session,
            self.config.base_url + endpoint,
            body,
            headers=headers,
            proxy=self._proxy,
            provider=self.name,
            base_url=self.config.base_url,
            read_timeout=self.config.timeout,
        )
        return AiohttpUpstream(response, self.name)

    async def list_models(self) -> list[str]:
        models = list(self.config.models)
        if self.config.discover:
            seen = set(models)
            models.extend(m for m in await self._discover() if m not in seen)
        return models

    async def _discover(self) -> list[str]:
        return await discover_models(
            self._session,
            self.config.base_url + "/models",
            headers=self._headers,
            proxy=self._proxy,
            provider=self.name,
            patterns=self.config.model_patterns,
        )

    async def aclose(self) -> None:
        await self._session.close()
