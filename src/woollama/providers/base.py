"""The small protocol every backend adapter implements."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from woollama.errors import UpstreamError, WoollamaError, error_body


class Upstream(Protocol):
    """An open answer from a backend: status known, body not yet read.

    The caller owns it and must `aclose()` it; streaming relays do so when the
    client goes away, which is what cancels the backend's work.
    """

    status: int
    content_type: str

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


def upstream_error(status: int, raw: bytes, provider: str) -> WoollamaError:
    """A backend's error answer as our error: its JSON error body kept, anything else wrapped."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return UpstreamError(status, body, provider)
    if isinstance(body, dict) and isinstance(body.get("error"), str):  # Ollama's shape
        message = f"provider {provider!r}: {body['error']}"
        return UpstreamError(status, error_body(message, "upstream_error"), provider)
    snippet = raw[:200].decode("utf-8", "replace").strip()
    message = f"provider {provider!r} answered HTTP {status}" + (f": {snippet}" if snippet else "")
    return UpstreamError(status, error_body(message, "upstream_error"), provider)
