"""Ollama: its OpenAI layer by default, its native `/api/chat` when a request needs it.

Ollama's OpenAI-compatible endpoint ignores `options` (num_ctx, num_gpu, ...), which
is often the reason someone talks to Ollama at all. A chat request that carries
`options` is therefore translated to the native API and the answer translated back,
so the client still sees only OpenAI bytes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from woollama.errors import BackendError, WoollamaError
from woollama.providers.base import Upstream
from woollama.providers.ollama.translate import (
    StreamTranslator,
    from_ollama_chat,
    ollama_error,
    ollama_root,
    to_ollama_chat,
    wants_native,
)
from woollama.providers.openai_compat import AiohttpUpstream, OpenAICompatProvider
from woollama.providers.openai_wire import include_usage
from woollama.providers.tokenizer import TokenCount

log = logging.getLogger(__name__)

NATIVE_CHAT = "/api/chat"


class OllamaUpstream:
    """An Ollama `/api/chat` answer presented as OpenAI bytes.

    A streamed answer becomes `text/event-stream`; everything else, errors included,
    becomes JSON in OpenAI's shapes, with Ollama's status kept.
    """

    def __init__(
        self, upstream: AiohttpUpstream, provider: str, stream: StreamTranslator | None
    ) -> None:
        self._upstream = upstream
        self._provider = provider
        self._stream = stream
        self.status = upstream.status
        self.headers = upstream.headers
        streaming = stream is not None and upstream.status < 400
        self.content_type = "text/event-stream" if streaming else "application/json"

    async def read(self) -> bytes:
        raw = await self._upstream.read()
        if self.status >= 400:
            return json.dumps(ollama_error(self.status, raw)).encode()
        if self._stream is not None:
            return self._stream.feed(raw) + self._stream.end()
        try:
            answer = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            answer = None
        if not isinstance(answer, dict) or "error" in answer:
            raise BackendError(
                f"provider {self._provider!r} answered something that is not an Ollama chat "
                f"response: {raw[:200].decode('utf-8', 'replace')}"
            )
        return json.dumps(from_ollama_chat(answer)).encode()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        translator = self._stream
        if translator is None or self.status >= 400:
            yield await self.read()
            return
        try:
            async for chunk in self._upstream.iter_bytes():
                out = translator.feed(chunk)
                if out:
                    yield out
                if translator.finished:
                    return  # [DONE] or an error event went out; the rest is of no use
            yield translator.end()
        except WoollamaError as exc:
            # In-band, like an Ollama error line: the status line has long gone out.
            log.warning("stream from %s broke: %s", self._provider, exc.message)
            yield translator.fail(exc.to_body())

    async def aclose(self) -> None:
        await self._upstream.aclose()


class OllamaProvider(OpenAICompatProvider):
    """The `ollama` kind: the OpenAI-compatible `/v1`, plus native `/api/chat`."""

    async def count_tokens(self, chat: dict[str, Any]) -> TokenCount | None:
        # Ollama's API has no tokenizer route; probing for llama.cpp's would only 404.
        return None

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        # Configured extra_body counts too: `options` there routes every chat natively.
        merged = {**self.config.extra_body, **body} if self.config.extra_body else body
        if not wants_native(endpoint, merged):
            return await super().open(endpoint, body)
        request = to_ollama_chat(merged)
        stream = None
        if request["stream"]:
            usage = include_usage(merged.get("stream_options"))
            stream = StreamTranslator(str(request["model"]), include_usage=usage)
        response = await self._post(NATIVE_CHAT, request, root=ollama_root(self.config.base_url))
        return OllamaUpstream(AiohttpUpstream(response, self.name), self.name, stream)
