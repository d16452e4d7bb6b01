"""Counting a chat request's prompt tokens with the backend's own tokenizer.

Two engines expose theirs over HTTP, beside their OpenAI routes (one level above
`/v1`): llama.cpp's server renders the chat template (`/apply-template`, tools
included) and tokenizes the result (`/tokenize`), which is the exact count the model
will see; llama-cpp-python's server tokenizes text (`/extras/tokenize/count`), which
is exact for the messages' text but leaves out the template's framing tokens.
Other backends (Ollama, the cloud APIs) expose no tokenizer: callers estimate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from woollama.errors import WoollamaError

if TYPE_CHECKING:
    import aiohttp

    # POST `path` under `root` with a JSON body; the caller releases the response.
    Post = Callable[[str, dict[str, Any], str], Awaitable[aiohttp.ClientResponse]]

log = logging.getLogger(__name__)
Method = Literal["template", "text"]


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    # "template": the rendered prompt, exactly as the model sees it;
    # "text": the messages' and tools' text, without the template's framing.
    method: Method


class Tokenizer:
    """Which tokenizer a backend has is learnt on first use and then kept, so a
    backend without one costs a failed probe once, not on every count."""

    def __init__(self, post: Post, base_url: str):
        self._post = post
        self._root = base_url.removesuffix("/v1")
        self._method: Method | None = None
        self._probed = False

    async def count(self, chat: dict[str, Any]) -> TokenCount | None:
        """The prompt's token count, or None when the backend cannot count."""
        methods: tuple[Method, ...] = ("template", "text")
        if self._probed:
            if self._method is None:
                return None
            methods = (self._method,)
        import aiohttp  # loaded by the provider's session

        for method in methods:
            try:
                tokens = await (self._template(chat) if method == "template" else self._text(chat))
            except (WoollamaError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.debug("token count by %s at %s failed: %s", method, self._root, exc)
                tokens = None
            if tokens is not None:
                self._method, self._probed = method, True
                return TokenCount(tokens, method)
        if not self._probed:
            log.info("%s exposes no tokenizer; token counts there are estimates", self._root)
        self._probed = True
        self._method = None
        return None

    async def _template(self, chat: dict[str, Any]) -> int | None:
        rendered = await self._json("/apply-template", {
            "messages": chat["messages"], **({"tools": chat["tools"]} if chat.get("tools") else {})
        })  # fmt: skip
        prompt = rendered.get("prompt") if isinstance(rendered, dict) else None
        if not isinstance(prompt, str):
            return None
        # The rendered prompt already carries the template's special tokens.
        tokenized = await self._json("/tokenize", {"content": prompt, "add_special": False,
                                                   "parse_special": True})  # fmt: skip
        tokens = tokenized.get("tokens") if isinstance(tokenized, dict) else None
        return len(tokens) if isinstance(tokens, list) else None

    async def _text(self, chat: dict[str, Any]) -> int | None:
        text = _prompt_text(chat)
        body = {"input": text, "model": chat.get("model")}
        counted = await self._json("/extras/tokenize/count", body)
        count = counted.get("count") if isinstance(counted, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    async def _json(self, path: str, body: dict[str, Any]) -> Any:
        response = await self._post(path, body, self._root)
        try:
            if response.status != 200:
                return None
            return await response.json(content_type=None)
        finally:
            response.release()


def _prompt_text(chat: dict[str, Any]) -> str:
    """What the model reads of a chat request: each message's text, then the tools."""
    parts: list[str] = []
    for message in chat["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict)
                         and isinstance(p.get("text"), str))  # fmt: skip
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    if chat.get("tools"):
        parts.append(json.dumps(chat["tools"], ensure_ascii=False))
    return "\n".join(parts)
