"""Any backend that speaks the OpenAI HTTP API (Ollama, OpenAI, Groq, vLLM, llama.cpp, ...)."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from woollama.config.models import InferencerConfig
from woollama.errors import BackendError, BackendTimeout, BadRequest

log = logging.getLogger(__name__)

DISCOVERY_TIMEOUT = 3.0
_CONNECT_TIMEOUT = 10.0


def proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) gives for `url`."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass_environment(parts.hostname):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)


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
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=_CONNECT_TIMEOUT, sock_read=config.timeout
            ),
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            auto_decompress=True,
            # trust_env would consult netrc and the proxy settings in a thread on every
            # request; the proxy is resolved once instead.
            trust_env=False,
        )
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
        url = self.config.base_url + endpoint
        try:
            response = await self._session.post(
                # No redirects: the provider key must never follow one to another host.
                url,
                data=json.dumps(body).encode(),
                headers=headers,
                allow_redirects=False,
            )
        except TimeoutError:
            raise BackendTimeout(
                f"provider {self.name!r} did not answer within {self.config.timeout:g} s"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise BackendError(
                f"provider {self.name!r} is unreachable at {self.config.base_url} "
                f"({exc.os_error}); is it running, and is its base_url right?"
            ) from None
        except aiohttp.ClientError as exc:
            raise BackendError(f"provider {self.name!r} failed: {exc}") from None
        return AiohttpUpstream(response, self.name)

    async def list_models(self) -> list[str]:
        models = list(self.config.models)
        if self.config.discover:
            seen = set(models)
            models.extend(m for m in await self._discover() if m not in seen)
        return models

    async def _discover(self) -> list[str]:
        try:
            async with asyncio.timeout(DISCOVERY_TIMEOUT):
                async with self._session.get(
                    self.config.base_url + "/models", headers=self._headers(), proxy=self._proxy
                ) as response:
                    response.raise_for_status()
                    payload = await response.json(content_type=None)
            ids = [str(item["id"]) for item in payload.get("data", []) if "id" in item]
        except (
            TimeoutError,
            aiohttp.ClientError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            BadRequest,
        ) as exc:
            log.info("model discovery for %s skipped: %s", self.name, exc or type(exc).__name__)
            return []
        patterns = self.config.model_patterns
        if patterns:
            ids = [i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns)]
        return ids

    async def aclose(self) -> None:
        await self._session.close()
