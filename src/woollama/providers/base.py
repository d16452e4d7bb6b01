"""The small protocol every backend adapter implements."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from woollama.errors import UpstreamError, WoollamaError, error_body

NO_HEADERS: Mapping[str, str] = MappingProxyType({})

# What a client needs from a backend's error to back off as the backend asked; the
# openai and anthropic SDKs read these. Everything else about the backend's
# answer (its server, cookies, request ids) stays behind the router.
_BACKOFF_HEADERS = frozenset({"retry-after", "retry-after-ms"})
_BACKOFF_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


class Upstream(Protocol):
    """An open answer from a backend: status known, body not yet read.

    The caller owns it and must `aclose()` it; streaming relays do so when the
    client goes away, which is what cancels the backend's work.
    """

    status: int
    content_type: str
    # On an error answer, the backend's back-off headers (see `backoff_headers`),
    # to be relayed with the error; NO_HEADERS otherwise.
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def iter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Provider(Protocol):
    name: str

    async def list_models(self) -> list[str]:
        """Static models plus, where enabled, those the backend reports."""
        ...

    def unavailable(self) -> str | None:
        """Why this backend cannot answer at all right now (a missing key or program),
        or None; checked without contacting it, so listing models stays fast."""
        ...

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        """Send an OpenAI-shaped request (`endpoint` like "/chat/completions").

        `body["model"]` is already the backend's bare model id.
        """
        ...

    async def aclose(self) -> None: ...


def backoff_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """The `Retry-After` and rate-limit headers among a backend's answer headers."""
    kept = {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() in _BACKOFF_HEADERS or name.lower().startswith(_BACKOFF_PREFIXES)
    }
    return kept or NO_HEADERS


def upstream_error(
    status: int, raw: bytes, provider: str, headers: Mapping[str, str] = NO_HEADERS
) -> WoollamaError:
    """A backend's error answer as our error: its JSON error body kept, anything else
    wrapped; `headers` (the answer's back-off headers) go to the client with it."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return UpstreamError(status, body, provider, headers)
    if isinstance(body, dict) and isinstance(body.get("error"), str):  # Ollama's shape
        message = f"provider {provider!r}: {body['error']}"
        return UpstreamError(status, error_body(message, "upstream_error"), provider, headers)
    snippet = raw[:200].decode("utf-8", "replace").strip()
    message = f"provider {provider!r} answered HTTP {status}" + (f": {snippet}" if snippet else "")
    return UpstreamError(status, error_body(message, "upstream_error"), provider, headers)
