"""The outbound HTTP client every adapter uses: aiohttp, one pooled session per backend.

aiohttp was chosen over httpx2 by measurement (see docs/benchmarks.md): about a
quarter of the per-request cost. The environment's proxy is resolved once per
backend; aiohttp's trust_env would consult netrc and the proxy settings in a thread
on every request.

aiohttp is imported when a backend first needs it, not at start-up: it is 9 MiB of
woollama's resident memory, and a router whose backends are local and plain HTTP
(they go through `http1`) may never need it. `load_aiohttp` imports it in a worker
thread, so the loop keeps serving during the 0.2 s the import takes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib
import logging
import os
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from woollama.config.models import InferencerConfig
from woollama.errors import BackendError, BackendTimeout, BadRequest, WoollamaError
from woollama.providers.http1 import encode_json

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
DISCOVERY_TIMEOUT = 3.0


async def load_aiohttp() -> ModuleType:
    """aiohttp, imported on first use in a worker thread (see the module's note)."""
    module = sys.modules.get("aiohttp")
    if module is None:
        module = await asyncio.to_thread(importlib.import_module, "aiohttp")
    return module


def client_session(read_timeout: float) -> aiohttp.ClientSession:
    """A pooled session; call inside the running loop that will use it, once
    `load_aiohttp` has run."""
    import aiohttp

    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=read_timeout
        ),
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        trust_env=False,
    )


def proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) gives for `url`."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass_environment(parts.hostname):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    proxy: str | None,
    provider: str,
    base_url: str,
    read_timeout: float,
) -> aiohttp.ClientResponse:
    """POST a JSON body; transport failures become woollama's 502/504 errors."""
    import aiohttp  # loaded with the session

    try:
        return await session.post(
            url,
            data=encode_json(body),
            headers=headers,
            proxy=proxy,
            # No redirects: the provider key must never follow one to another host.
            allow_redirects=False,
        )
    except TimeoutError:
        raise BackendTimeout(
            f"provider {provider!r} did not answer within {read_timeout:g} s"
        ) from None
    except aiohttp.ClientConnectorError as exc:
        raise BackendError(
            f"provider {provider!r} is unreachable at {base_url} "
            f"({exc.os_error}); is it running, and is its base_url right?"
        ) from None
    except aiohttp.ClientError as exc:
        raise BackendError(f"provider {provider!r} failed: {exc}") from None


async def discover_models(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Callable[[], dict[str, str]],
    proxy: str | None,
    provider: str,
    patterns: Sequence[str] = (),
    params: dict[str, str] | None = None,
) -> list[str]:
    """Model ids from an OpenAI-shaped `GET …/models`, filtered by glob patterns.

    Bounded and forgiving: a backend that is down or answers oddly lists nothing.
    """
    import aiohttp  # loaded with the session

    try:
        async with asyncio.timeout(DISCOVERY_TIMEOUT):
            async with session.get(
                url, params=params, headers=headers(), proxy=proxy, allow_redirects=False
            ) as response:
                response.raise_for_status()
                payload = await response.json(content_type=None)
        ids = [str(item["id"]) for item in payload.get("data", []) if "id" in item]
    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError,
            AttributeError, WoollamaError) as exc:  # fmt: skip
        log.info("model discovery for %s skipped: %s", provider, exc or type(exc).__name__)
        return []
    if patterns:
        ids = [i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns)]
    return ids


class HttpProvider:
    """What every HTTP backend shares: its pooled session, proxy, key and model list.

    Subclasses say how to authenticate (`_headers`) and answer `open()`.
    """

    discover_params: ClassVar[dict[str, str] | None] = None

    def __init__(self, name: str, config: InferencerConfig, env: Mapping[str, str] = os.environ):
        self.name = name
        self.config = config
        self._env = env
        self._session: aiohttp.ClientSession | None = None
        self._proxy = proxy_for(config.base_url)

    def unavailable(self) -> str | None:
        var = self.config.api_key_env
        if var and not self._env.get(var):
            return f"set the environment variable {var} (the API key of provider {self.name!r})"
        return None

    def _api_key(self) -> str | None:
        """The key from `api_key_env`, read on every call so a key exported later counts."""
        var = self.config.api_key_env
        if not var:
            return None
        key = self._env.get(var)
        if not key:
            raise BadRequest(
                f"provider {self.name!r} needs an API key: set the environment "
                f"variable {var} before starting woollama",
                code="missing_api_key",
            )
        return key

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            await load_aiohttp()
            if self._session is None:  # another request may have made it meanwhile
                self._session = client_session(self.config.timeout)
        return self._session

    async def _post(
        self, path: str, body: dict[str, Any], *, root: str | None = None
    ) -> aiohttp.ClientResponse:
        """POST to `path` under `base_url` (or under `root`, on the same host)."""
        return await post_json(
            await self._client(),
            (root or self.config.base_url) + path,
            body,
            headers=self._headers(),
            proxy=self._proxy,
            provider=self.name,
            base_url=self.config.base_url,
            read_timeout=self.config.timeout,
        )

    async def list_models(self) -> list[str]:
        models = list(self.config.models)
        if self.config.discover:
            found = await discover_models(
                await self._client(),
                self.config.base_url + "/models",
                headers=self._headers,
                proxy=self._proxy,
                provider=self.name,
                patterns=self.config.model_patterns,
                params=self.discover_params,
            )
            models.extend(m for m in found if m not in models)
        return models

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
