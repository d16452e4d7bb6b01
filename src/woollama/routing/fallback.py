"""An alias as a provider: its targets tried in order, the next only when the previous
failed before any byte reached the client.

What falls over: a backend that cannot be reached or dropped the connection, a
timeout before the answer started, 429, any 5xx (the gate's 503 included). What does
not: a 4xx that is the client's own (a bad body, the user's key refused, an unknown
model), which every target would refuse the same way. A target that failed is skipped
for the alias's `cooldown`, so a dead backend does not add its timeout to every
request; when every target is cooling down they are all tried anyway, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from typing import Any

from woollama.errors import BackendBusy, BackendError, BackendTimeout, BadRequest, WoollamaError
from woollama.providers import Provider, Upstream
from woollama.routing.aliases import Alias

log = logging.getLogger(__name__)

TARGET_HEADER = "x-woollama-target"  # which target served the answer
_TRANSIENT = (BackendError, BackendTimeout, BackendBusy)


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


class Cooldowns:
    """When each failed target may be tried again (monotonic seconds), shared by every
    alias that names it: a backend that is down is down for all of them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._until: MutableMapping[str, float] = {}
        self._clock = clock

    def cooling(self, target: str) -> bool:
        until = self._until.get(target)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[target]
            return False
        return True

    def fail(self, target: str, seconds: float) -> None:
        if seconds > 0:
            self._until[target] = self._clock() + seconds

    def succeed(self, target: str) -> None:
        self._until.pop(target, None)


class TaggedUpstream:
    """An answer that names the target that gave it (a response header)."""

    def __init__(self, upstream: Upstream, target: str):
        self._upstream = upstream
        self.status = upstream.status
        self.content_type = upstream.content_type
        self.headers: Mapping[str, str] = {**upstream.headers, TARGET_HEADER: target}
        self.target = target

    async def read(self) -> bytes:
        return await self._upstream.read()

    def iter_bytes(self) -> AsyncIterator[bytes]:
        return self._upstream.iter_bytes()

    async def aclose(self) -> None:
        await self._upstream.aclose()


class FallbackProvider:
    """The provider a client gets for `model: "<alias>"`."""

    def __init__(
        self,
        alias: Alias,
        resolve: Callable[[str], tuple[Provider, str]],
        cooldowns: Cooldowns,
    ):
        self.name = alias.name
        self._alias = alias
        self._resolve = resolve
        self._cooldowns = cooldowns

    async def list_models(self) -> list[str]:
        return []

    def unavailable(self) -> str | None:
        return None

    def targets(self) -> list[str]:
        """The targets to try now: those not cooling down, or all when every one is."""
        # A recipe target is served as a recipe, only as an alias's first target.
        targets = [t for t in self._alias.targets if not t.startswith("woollama/")]
        ready = [t for t in targets if not self._cooldowns.cooling(t)]
        return ready or targets

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        targets = self.targets()
        if not targets:
            raise BadRequest(f"alias {self.name!r} has no <provider>/<model> target for {endpoint}")
        failure: WoollamaError | None = None
        for index, target in enumerate(targets):
            last = index == len(targets) - 1
            provider, bare = self._resolve(target)
            try:
                upstream = await provider.open(endpoint, {**body, "model": bare})
            except _TRANSIENT as exc:
                self._failed(target, exc.message)
                exc.headers[TARGET_HEADER] = target
                failure = exc
                continue
            if retryable(upstream.status):
                self._failed(target, f"HTTP {upstream.status}")
                if not last:
                    await upstream.aclose()
                    continue
            else:
                self._cooldowns.succeed(target)
            return TaggedUpstream(upstream, target)
        assert failure is not None
        raise failure

    def _failed(self, target: str, why: str) -> None:
        log.info("alias %r: target %s failed (%s); trying the next", self.name, target, why)
        self._cooldowns.fail(target, self._alias.cooldown)

    async def aclose(self) -> None:
        return None
