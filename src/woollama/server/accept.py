"""Accepting every waiting connection at once, on each of the loop's turns.

libuv (under uvloop) accepts one connection per turn of the event loop since 1.45
and relies on the listening socket staying readable for the next one. That is fair
to sibling processes sharing a socket, but a router relaying a thousand streams has
long turns: connections then wait in the kernel's queue at a few per turn, and a
burst of new clients starts a second late. woollama has no sibling processes, so
here the listening socket is read by the loop's own reader, which takes everything
that is waiting (bounded, so one burst cannot starve the streams already open) and
hands each connection to the loop as an accepted socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

BATCH = 512  # connections taken per readiness; the rest wait for the next turn


class BatchAcceptor:
    """Serves one listening socket; `close` and `wait_closed` as `asyncio.Server`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
    ):
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        self._opening: set[asyncio.Task[object]] = set()
        self._serving = True
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                # Out of descriptors, say: those waiting stay queued, and the next
                # turn tries again (libuv does no better without its spare fd).
                log.warning("cannot accept a connection: %s", exc)
                return
            conn.setblocking(False)
            if self._tcp:
                # As uvloop sets it on the connections it accepts itself: small
                # writes (an SSE event) must not wait for the previous one's ACK.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._open(conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError as exc:  # reset before it could be set up
            log.debug("an accepted connection failed to open: %s", exc)
            conn.close()

    def close(self) -> None:
        if self._serving:
            self._serving = False
            with contextlib.suppress(ValueError, OSError):  # the socket is already closed
                self._loop.remove_reader(self._sock.fileno())

    async def wait_closed(self) -> None:
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)
