"""Racing a request's work against the client hanging up, on the hot paths."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.types import Receive

WATCH_AFTER_S = 0.02  # see unless_gone

T = TypeVar("T")


async def unless_gone(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None once the client hangs up (`work` is then cancelled).

    The same race as `surfaces.http.unless_disconnected`, made for the hot path:
    `work` runs in the calling task and only the watch on `receive` gets one of its
    own, where an anyio task group costs about 40 µs a request (bench/relay_costs.py).
    The watch starts only once `work` has taken `WATCH_AFTER_S`: a client that
    gives up within that is noticed that much later, and the many answers that come
    sooner cost a timer instead of a task. Call it once the body is read, so
    `receive` has nothing left but the disconnect.
    """
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch(receive, task)
    timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, watch.start)
    try:
        return await work
    except asyncio.CancelledError:
        # Ours alone (no one else cancelled the request too): the client left.
        if watch.gone and task.uncancel() == 0:
            return None
        raise
    finally:
        timer.cancel()
        # The watch is not cancelled but let go: its `receive` returns once the
        # response completes (uvicorn wakes it) or the client leaves. A cancelled
        # watch would leave a reference cycle (its future, the CancelledError and
        # its traceback) for the collector, and a thousand streams' worth of those
        # made full collections that held up their first bytes (docs/benchmarks.md).
        watch.owner = None


class _Watch:
    __slots__ = ("gone", "owner", "receive", "watcher")

    def __init__(self, receive: Receive, owner: asyncio.Task[Any]):
        self.receive = receive
        self.owner: asyncio.Task[Any] | None = owner  # None once the work has ended
        self.gone = False
        self.watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.watcher = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if self.owner is not None:
            self.gone = True
            self.owner.cancel()
