"""A pooled inferencer: its provider behind the device's gate.

Every request names a real model id (a `virtual` name is resolved first, `default`
to what the device holds now), is refused with a 400 if its model is declared for
another capability, then waits at the gate for a slot on a loaded model. The slot is
released when the answer is closed. A 5xx or a dropped connection makes the device's
residency be re-read; a timeout does not, since a slow answer is no sign of a model gone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Mapping
from typing import Any

from woollama.config.models import InferencerConfig
from woollama.errors import BackendError, BackendTimeout, BadRequest
from woollama.providers import Provider, Upstream
from woollama.routing.pool.gate import Gate

# The capability an endpoint needs, and the names a declaration may use for it.
_NEEDS = {
    "/chat/completions": "chat",
    "/completions": "chat",
    "/responses": "chat",
    "/embeddings": "embedding",
    "/images/generations": "image",
}
_SYNONYMS = {
    "chat": "chat", "completion": "chat", "completions": "chat", "generate": "chat",
    "tools": "chat", "vision": "chat", "embedding": "embedding", "embeddings": "embedding",
    "embed": "embedding", "image": "image", "images": "image",
}  # fmt: skip
DEFAULT = "default"


class PooledProvider:
    def __init__(self, inner: Provider, config: InferencerConfig, gate: Gate):
        self.name = inner.name
        self.inner = inner
        self.gate = gate
        self._virtual = config.virtual
        self._capabilities = config.capabilities
        self._models = config.models

    async def list_models(self) -> list[str]:
        return await self.inner.list_models()

    def unavailable(self) -> str | None:
        return self.inner.unavailable()

    # -- capabilities and names ------------------------------------------------------

    def capabilities(self, model: str) -> set[str]:
        """What `model` is declared to be (config globs, and what the device says);
        empty means unknown, which is eligible for everything."""
        declared = {c for c, globs in self._capabilities.items()
                    if any(fnmatch.fnmatchcase(model, g) for g in globs)}  # fmt: skip
        known = self.gate.residency.known
        if known is not None and model in known:
            declared |= known[model].capabilities
        return declared

    def _serves(self, model: str, endpoint: str) -> bool:
        need = _NEEDS.get(endpoint)
        declared = {_SYNONYMS.get(c, c) for c in self.capabilities(model)}
        return need is None or not declared or need in declared

    async def real_id(self, model: str, endpoint: str) -> str:
        if model == DEFAULT:
            for resident in await self.gate.residents():
                if self._serves(resident, endpoint):
                    return resident
            fallback = self._virtual.get(DEFAULT)
            if fallback is None:
                raise BadRequest(
                    f"{self.name}/default: the device holds no model that serves {endpoint} "
                    f"and [inferencers.{self.name}.virtual] has no `default`",
                    param="model",
                )
            return fallback
        return self._virtual.get(model, model)

    # -- the request -----------------------------------------------------------------

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        asked = body["model"]
        if self.gate.residency.known is None:
            await self.gate.residency.read()  # what the device says a model is counts too
        model = (
            await self.real_id(asked, endpoint)
            if asked in self._virtual or asked == DEFAULT
            else asked
        )
        if not self._serves(model, endpoint):
            what = ", ".join(sorted(self.capabilities(model)))
            raise BadRequest(
                f"model {self.name}/{model} is declared as {what}; it does not serve {endpoint}",
                param="model",
                code="model_not_supported",
            )
        if model != asked:
            body = {**body, "model": model}
        gate = self.gate
        await gate.acquire(model)
        try:
            upstream = await self.inner.open(endpoint, body)
        except BackendTimeout:
            gate.release(model)
            raise
        except BackendError:
            gate.residency.invalidate()
            gate.release(model)
            raise
        except BaseException:
            gate.release(model)
            raise
        if upstream.status >= 500:
            gate.residency.invalidate()
        return GatedUpstream(upstream, gate, model)

    async def annotate(self, entries: list[dict[str, Any]], created: int) -> list[dict[str, Any]]:
        """`/v1/models` entries with `loaded`, `capabilities`, and the residents the
        config does not list (`undeclared`)."""
        residents = await self.gate.residency.read()
        prefix = f"{self.name}/"
        listed = set()
        for name in self._virtual:
            if not any(e["id"] == prefix + name for e in entries):
                entries.append({"id": prefix + name, "object": "model", "created": created,
                                "owned_by": self.name})  # fmt: skip
        for entry in entries:
            bare = entry["id"].removeprefix(prefix)
            real = self._virtual.get(bare, bare) if bare != DEFAULT else None
            listed.add(real or bare)
            if residents is not None:
                entry["loaded"] = (
                    any(self._serves(r, "/chat/completions") for r in residents)
                    if real is None
                    else real in residents
                )
            if real is not None and (caps := self.capabilities(real)):
                entry["capabilities"] = sorted(caps)
        for resident in residents or {}:
            if resident in listed:
                continue
            entry = {"id": prefix + resident, "object": "model", "created": created,
                     "owned_by": self.name, "loaded": True}  # fmt: skip
            if resident not in self._models:
                entry["undeclared"] = True
            if caps := self.capabilities(resident):
                entry["capabilities"] = sorted(caps)
            entries.append(entry)
        return entries

    async def aclose(self) -> None:
        await self.inner.aclose()


class GatedUpstream:
    """An answer holding a slot of the gate until it is closed."""

    def __init__(self, upstream: Upstream, gate: Gate, model: str):
        self._upstream = upstream
        self._gate = gate
        self._model: str | None = model
        self.status = upstream.status
        self.content_type = upstream.content_type
        self.headers: Mapping[str, str] = upstream.headers

    async def read(self) -> bytes:
        try:
            return await self._upstream.read()
        except BackendError:
            self._gate.residency.invalidate()
            raise

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._upstream.iter_bytes():
                yield chunk
        except BackendError:
            self._gate.residency.invalidate()
            raise

    async def aclose(self) -> None:
        try:
            await self._upstream.aclose()
        finally:
            model, self._model = self._model, None
            if model is not None:
                self._gate.release(model)
