"""What a device holds now, read at most once a second however many ask.

`/v1/models`, `<provider>/default` and the gate share the reads: a caller within a
second of the last read gets its answer, and callers during a read wait for that
one. A read that fails makes residency unknown (None), never empty: "nothing is
loaded" and "cannot tell" lead to different answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from woollama.errors import WoollamaError
from woollama.routing.pool.management import Management, Resident

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between two reads of one device


class Residency:
    def __init__(self, management: Management, clock: Callable[[], float] = time.monotonic):
        self._management = management
        self._clock = clock
        self._value: dict[str, Resident] | None = None
        self._read_at = -MIN_INTERVAL
        self._pending: asyncio.Future[dict[str, Resident] | None] | None = None
        self._listeners: list[Callable[[dict[str, Resident]], None]] = []
        self.reads = 0  # how many times the device was asked, for tests and the status
        self._reread_task: asyncio.Task[None] | None = None

    @property
    def known(self) -> dict[str, Resident] | None:
        """The last answer, without asking the device."""
        return self._value

    def on_read(self, listener: Callable[[dict[str, Resident]], None]) -> None:
        """Call `listener` with every successful read (the gate learns what is gone)."""
        self._listeners.append(listener)

    async def read(self) -> dict[str, Resident] | None:
        """The residents, as of at most a second ago; None when the device cannot say."""
        if self._pending is not None:
            return await asyncio.shield(self._pending)
        if self._clock() - self._read_at < MIN_INTERVAL:
            return self._value
        return await self._read_now()

    async def _read_now(self) -> dict[str, Resident] | None:
        future: asyncio.Future[dict[str, Resident] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending = future
        try:
            self.reads += 1
            try:
                value: dict[str, Resident] | None = await self._management.running()
            except WoollamaError as exc:
                log.warning("residency of %s unknown: %s", self._management.base, exc.message)
                value = None
            self._value = value
            self._read_at = self._clock()
            if value is not None:
                for listener in self._listeners:
                    listener(value)
            future.set_result(value)
            return value
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: a cancelled reader must not log it
            raise
        finally:
            self._pending = None

    def invalidate(self) -> None:
        """The device answered 5xx or dropped a connection: re-read (no sooner than
        a second after the last read) and forget models that are gone."""
        if self._pending is not None or self._reread_task is not None:
            return
        delay = max(0.0, MIN_INTERVAL - (self._clock() - self._read_at))
        self._reread_task = asyncio.get_running_loop().create_task(self._reread(delay))

    async def _reread(self, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            if self._pending is None:
                await self._read_now()
        finally:
            self._reread_task = None

    def aclose(self) -> None:
        if self._reread_task is not None:
            self._reread_task.cancel()
