"""The outbound HTTP client every adapter uses: aiohttp, one pooled session per backend.

aiohttp was chosen over httpx2 by measurement (see docs/benchmarks.md): about a
quarter of the per-request cost. The environment's proxy is resolved once per
backend; aiohttp's trust_env would consult netrc and the proxy settings in a thread
on every request.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from woollama.errors import BackendError, BackendTimeout, WoollamaError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
DISCOVERY_TIMEOUT = 3.0


def client_session(read_timeout: float) -> aiohttp.ClientSession:
    """A pooled session; call inside the running loop that will use it."""
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
    try:
        return await session.post(
            url,
            data=json.dumps(body).encode(),
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
