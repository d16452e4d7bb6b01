"""The watch `unless_gone` keeps on the client while a hot path works.

In-process, with a `receive` that behaves as uvicorn's (one event, set when the client
leaves and when the response completes): the watch must cancel the work when the client
leaves, and otherwise end by itself once the response completes, leaving nothing for the
garbage collector (a cancelled watch leaves a reference cycle per request).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from woollama.surfaces import disconnect
from woollama.surfaces.disconnect import WATCH_AFTER_S, unless_gone


class Cycle:
    """uvicorn's request cycle as its ASGI `receive` sees it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.disconnected = False
        self.complete = False

    async def receive(self) -> dict:
        if not (self.disconnected or self.complete):
            await self.event.wait()
            self.event.clear()
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    def end(self, *, disconnect: bool) -> None:
        if disconnect:
            self.disconnected = True
        else:
            self.complete = True
        self.event.set()


def watches() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if not t.done() and "_Watch._run" in repr(t.get_coro())]


@pytest.fixture
def saved_garbage() -> Iterator[list]:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_a_finished_answer_lets_its_watch_end_without_garbage(saved_garbage: list):
    cycle = Cycle()

    async def answer() -> str:
        await asyncio.sleep(WATCH_AFTER_S * 5)  # long enough for the watch to start
        return "answer"

    async with asyncio.timeout(10):
        assert await unless_gone(cycle.receive, answer()) == "answer"
        waiting = watches()
        assert len(waiting) == 1  # still waiting: the response is not complete yet
        cycle.end(disconnect=False)
        await asyncio.gather(*waiting)  # ends by itself, not cancelled
    gc.collect()
    assert not [o for o in saved_garbage if isinstance(o, disconnect._Watch)]


async def test_a_client_that_leaves_cancels_the_work():
    cycle = Cycle()
    cancelled = asyncio.Event()

    async def answer() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async with asyncio.timeout(10):
        asyncio.get_running_loop().call_later(WATCH_AFTER_S * 5, lambda: cycle.end(disconnect=True))
        assert await unless_gone(cycle.receive, answer()) is None
    assert cancelled.is_set()
    assert not watches()


async def test_a_client_that_leaves_after_the_work_ended_cancels_nothing():
    cycle = Cycle()

    async def answer() -> str:
        await asyncio.sleep(WATCH_AFTER_S * 5)
        return "answer"

    async with asyncio.timeout(10):
        assert await unless_gone(cycle.receive, answer()) == "answer"
        waiting = watches()
        cycle.end(disconnect=True)
        await asyncio.gather(*waiting)
        await asyncio.sleep(0)  # a cancel of this task would be raised here
    assert waiting
