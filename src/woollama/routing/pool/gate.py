"""The gate in front of a device: per-model queues, and model swaps done fairly.

A loaded model takes `parallel` requests at once; more wait in its queue (at most
`queue_max`). A request for a model that is not loaded waits for a swap: while the
device has room the model is loaded; when it is full, the least recently used idle
model is unloaded first. When no model is idle, the least recently used one that has
served since it was loaded is drained: the requests already queued for it still run,
new ones are held, and once nothing of it is in flight it is unloaded. Every swap thus
serves at least the requests that were waiting for the model it loaded, so two busy
models alternate in batches instead of thrashing. Swaps are one at a time, in the
order their first requests arrived. `queue_timeout` bounds the whole wait, swap
included: past it, or past `queue_max`, the answer is a 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from woollama.errors import BackendBusy, WoollamaError
from woollama.routing.pool.management import Management, Resident
from woollama.routing.pool.residency import Residency

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    parallel: int = 1
    pool_max: int | None = None
    queue_max: int | None = None
    queue_timeout: float = 30.0

    def shared_with(self, other: Limits) -> Limits:
        """Two inferencers on one device: the strictest limits, the longest timeout."""
        return Limits(
            parallel=min(self.parallel, other.parallel),
            pool_max=_least(self.pool_max, other.pool_max),
            queue_max=_least(self.queue_max, other.queue_max),
            queue_timeout=max(self.queue_timeout, other.queue_timeout),
        )


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


class _Waiter:
    __slots__ = ("future", "since")

    def __init__(self, future: asyncio.Future[None], since: float):
        self.future = future
        self.since = since


class _Model:
    __slots__ = ("active", "held", "last_used", "name", "served", "waiters")

    def __init__(self, name: str):
        self.name = name
        self.active = 0  # requests in flight
        self.waiters: deque[_Waiter] = deque()  # queued, served in order
        self.held: deque[_Waiter] = deque()  # arrived while the model drains for a swap
        self.served = 0  # requests granted since it was (last) loaded
        self.last_used = -math.inf


class Gate:
    def __init__(
        self,
        management: Management,
        residency: Residency,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.management = management
        self.residency = residency
        self.limits = limits
        self.loaded: set[str] = set()
        self.swaps = 0  # loads done, for the status and the benchmark
        self._clock = clock
        self._synced = False
        self._models: dict[str, _Model] = {}
        self._swap: asyncio.Task[None] | None = None
        self._draining: str | None = None
        residency.on_read(self._learn)

    # -- what requests call ----------------------------------------------------------

    async def acquire(self, model: str) -> None:
        """Return once `model` is loaded and a slot of it is ours; `release` it after."""
        m = self._models.get(model)
        if (
            m is not None
            and model in self.loaded
            and m.active < self.limits.parallel
            and not m.waiters
            and self._draining != model
        ):
            m.active += 1
            m.served += 1
            return
        await self._wait(model)

    async def residents(self) -> list[str]:
        """What the device holds, most recently used first: the gate's own view (it
        did the loads), seeded and corrected by residency reads."""
        if not self._synced:
            await self.residency.read()
        return sorted(self.loaded, key=self._last_used, reverse=True)

    def release(self, model: str) -> None:
        m = self._models.get(model)
        if m is None or m.active == 0:
            return
        m.active -= 1
        m.last_used = self._clock()
        self._schedule()

    # -- waiting ---------------------------------------------------------------------

    async def _wait(self, model: str) -> None:
        limits = self.limits
        deadline = self._clock() + limits.queue_timeout
        if not self._synced:
            await self._sync(deadline)
        m = self._models.get(model)
        if m is None:
            m = self._models[model] = _Model(model)
        draining = self._draining == model
        if model in self.loaded and m.active < limits.parallel and not m.waiters and not draining:
            m.active += 1
            m.served += 1
            return
        queue = m.held if draining else m.waiters
        if limits.queue_max is not None and len(m.waiters) + len(m.held) >= limits.queue_max:
            raise self._busy(f"{len(m.waiters) + len(m.held)} requests already wait for {model!r}")
        waiter = _Waiter(asyncio.get_running_loop().create_future(), self._clock())
        queue.append(waiter)
        self._schedule()
        try:
            done, _ = await asyncio.wait((waiter.future,), timeout=deadline - self._clock())
        except asyncio.CancelledError:
            self._abandon(m, waiter)
            raise
        if not done:
            self._abandon(m, waiter)
            raise self._busy(f"{model!r} was not free within queue_timeout")
        waiter.future.result()  # the swap's error, when the load failed

    async def _sync(self, deadline: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - self._clock())):
                await self.residency.read()  # seeds `loaded` through _learn
        self._synced = True

    def _abandon(self, m: _Model, waiter: _Waiter) -> None:
        future = waiter.future
        if future.done():
            if not future.cancelled() and future.exception() is None:
                self.release(m.name)  # granted as we gave up: hand the slot on
            return
        future.cancel()
        for queue in (m.waiters, m.held):
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
        self._schedule()

    def _busy(self, why: str) -> BackendBusy:
        error = BackendBusy(
            f"device {self.management.base} is busy: {why}; retry later",
            code="queue_full",
        )
        error.headers["Retry-After"] = str(max(1, math.ceil(self.limits.queue_timeout)))
        return error

    # -- deciding --------------------------------------------------------------------

    def _learn(self, residents: dict[str, Resident]) -> None:
        """A residency read is the truth: models that are gone are forgotten."""
        self.loaded = set(residents)
        self._synced = True
        self._schedule()

    def _schedule(self) -> None:
        now = self._clock()
        parallel = self.limits.parallel
        for name in self.loaded:
            m = self._models.get(name)
            if m is None:
                continue
            while m.waiters and m.active < parallel:
                waiter = m.waiters.popleft()
                if waiter.future.done():
                    continue
                waiter.future.set_result(None)
                m.active += 1
                m.served += 1
                m.last_used = now
        if self._swap is not None:
            return
        pending = [m for m in self._models.values() if m.name not in self.loaded and _heads(m)]
        if not pending:
            self._end_drain()
            return
        target = min(pending, key=lambda m: m.waiters[0].since)
        pool_max = self.limits.pool_max
        if pool_max is None or len(self.loaded) < pool_max:
            self._start_swap(None, target)
            return
        victim = self._victim()
        if victim is None:
            return
        vm = self._models.get(victim)
        if vm is None or (vm.active == 0 and not vm.waiters):
            self._start_swap(victim, target)
        elif self._draining is None:
            log.debug("draining %s for %s", victim, target.name)
            self._draining = victim

    def _victim(self) -> str | None:
        if self._draining is not None and self._draining in self.loaded:
            return self._draining
        idle = [n for n in self.loaded if _idle(self._models.get(n))]
        if idle:
            return min(idle, key=self._last_used)
        # No thrash: a model is drained only once it has served since it was loaded.
        busy = [n for n in self.loaded if self._models[n].served > 0]
        return min(busy, key=self._last_used) if busy else None

    def _last_used(self, name: str) -> float:
        m = self._models.get(name)
        return m.last_used if m is not None else -math.inf

    def _end_drain(self) -> None:
        draining, self._draining = self._draining, None
        m = self._models.get(draining) if draining is not None else None
        if m is not None and m.held:
            m.waiters.extend(m.held)
            m.held.clear()
            self._schedule()

    def _start_swap(self, victim: str | None, target: _Model) -> None:
        self._swap = asyncio.get_running_loop().create_task(self._run_swap(victim, target))

    async def _run_swap(self, victim: str | None, target: _Model) -> None:
        try:
            if victim is not None:
                await self.management.stop(victim)
                self.loaded.discard(victim)
                if (vm := self._models.get(victim)) is not None:
                    vm.served = 0
            await self.management.start(target.name)
            self.loaded.add(target.name)
            target.served = 0
            self.swaps += 1
        except WoollamaError as exc:
            log.warning("swap to %s failed: %s", target.name, exc.message)
            for queue in (target.waiters, target.held):
                while queue:
                    waiter = queue.popleft()
                    if not waiter.future.done():
                        waiter.future.set_exception(exc)
            self.residency.invalidate()
        finally:
            self._swap = None
            if self._draining == victim:
                self._end_drain()
            self._schedule()

    async def aclose(self) -> None:
        if self._swap is not None:
            self._swap.cancel()
        self.residency.aclose()
        await self.management.aclose()


def _heads(m: _Model) -> bool:
    """Whether `m` has a live waiter, dropping given-up ones from the front."""
    while m.waiters and m.waiters[0].future.done():
        m.waiters.popleft()
    return bool(m.waiters)


def _idle(m: _Model | None) -> bool:
    return m is None or (m.active == 0 and not m.waiters and not m.held)
