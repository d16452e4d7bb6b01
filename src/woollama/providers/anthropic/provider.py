"""Anthropic's native Messages API behind the OpenAI-shaped `Provider` protocol.

Every answer is translated back into OpenAI bytes (a `chat.completion`, a
`chat.completion.chunk` stream, or an OpenAI error body with our status), so the
relay and the recipe loop treat this adapter exactly like an OpenAI-compatible one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from woollama.errors import BackendError, Unsupported
from woollama.providers.anthropic.request import DEFAULT_MAX_TOKENS, to_anthropic_request
from woollama.providers.anthropic.stream import StreamConverter
from woollama.providers.anthropic.translate import (
    ANTHROPIC_VERSION,
    to_openai_error,
    to_openai_response,
)
from woollama.providers.base import NO_HEADERS
from woollama.providers.http import HttpProvider, post_json
from woollama.providers.openai_compat import AiohttpUpstream
from woollama.providers.openai_wire import include_usage

log = logging.getLogger(__name__)

_JSON = "application/json"


class BufferedUpstream:
    """An answer already in hand (an error body read up front)."""

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str = _JSON,
        headers: Mapping[str, str] = NO_HEADERS,
    ):
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        yield self._body

    async def aclose(self) -> None:
        return None


class CompletionUpstream:
    """A non-streamed Messages answer, read and translated on `read()`."""

    content_type = _JSON
    headers = NO_HEADERS

    def __init__(self, raw: AiohttpUpstream, provider: str, model: str):
        self.status = raw.status
        self._raw = raw
        self._provider = provider
        self._model = model

    async def read(self) -> bytes:
        body = await self._raw.read()
        try:
            message = json.loads(body)
            if not isinstance(message, dict) or message.get("type") != "message":
                raise ValueError("not a message")
            answer = to_openai_response(message, self._model)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackendError(
                f"provider {self._provider!r} answered something that is not a Messages "
                "API response"
            ) from None
        return json.dumps(answer).encode()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        yield await self.read()

    async def aclose(self) -> None:
        await self._raw.aclose()


class StreamUpstream:
    """A streamed Messages answer, translated chunk by chunk as it arrives."""

    content_type = "text/event-stream"
    headers = NO_HEADERS

    def __init__(self, raw: AiohttpUpstream, converter: StreamConverter):
        self.status = raw.status
        self._raw = raw
        self._converter = converter

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        async for chunk in self._raw.iter_bytes():
            out = self._converter.feed(chunk)
            if out:
                yield out
            if self._converter.finished:
                return
        self._converter.close()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def aclose(self) -> None:
        await self._raw.aclose()


class AnthropicProvider(HttpProvider):
    # The model list is paginated; 1000 is the largest page the API allows.
    discover_params = {"limit": "1000"}

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": _JSON, "accept": _JSON, "anthropic-version": ANTHROPIC_VERSION}
        key = self._api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    async def open(
        self, endpoint: str, body: dict[str, Any]
    ) -> BufferedUpstream | CompletionUpstream | StreamUpstream:
        if endpoint != "/chat/completions":
            raise Unsupported(
                f"provider {self.name!r} speaks the Anthropic Messages API, which has no "
                f"{endpoint} endpoint; use a provider that offers it"
            )
        extra = self.config.extra_body
        # extra_body holds native Messages fields (thinking, top_k, ...); the client's
        # translated fields win, and extra_body may set the default max_tokens.
        request: dict[str, Any] = {
            **extra,
            **to_anthropic_request(
                body, default_max_tokens=int(extra.get("max_tokens", DEFAULT_MAX_TOKENS))
            ),
        }
        raw = AiohttpUpstream(await self._post("/messages", request), self.name)
        if raw.status >= 400:
            try:
                status, error = to_openai_error(raw.status, await raw.read(), self.name)
            finally:
                await raw.aclose()
            return BufferedUpstream(status, json.dumps(error).encode(), headers=raw.headers)
        model = str(body.get("model", ""))
        if request.get("stream") is True:
            usage = include_usage(body.get("stream_options"))
            converter = StreamConverter(model, self.name, include_usage=usage)
            return StreamUpstream(raw, converter)
        return CompletionUpstream(raw, self.name, model)

    async def open_native(
        self, path: str, body: dict[str, Any], *, beta: str | None = None
    ) -> AiohttpUpstream:
        """A Messages API request sent as the client wrote it (`path` like "/messages"),
        for clients that speak Anthropic themselves; the answer is not translated."""
        headers = self._headers()
        if beta:
            headers["anthropic-beta"] = beta
        request = {**self.config.extra_body, **body} if path == "/messages" else body
        response = await post_json(
            await self._client(),
            self.config.base_url + path,
            request,
            headers=headers,
            proxy=self._proxy,
            provider=self.name,
            base_url=self.config.base_url,
            read_timeout=self.config.timeout,
        )
        return AiohttpUpstream(response, self.name)
