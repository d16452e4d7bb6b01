"""The small protocol every backend adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


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

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        """Send an OpenAI-shaped request (`endpoint` like "/chat/completions").

        `body["model"]` is already the backend's bare model id.
        """
        ...

    async def aclose(self) -> None: ...
