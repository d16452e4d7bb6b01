"""The listener takes every queued connection on one readiness, not one per loop turn."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from woollama.server.accept import BATCH, BatchAcceptor


class _Echo(asyncio.Protocol):
    made: list[_Echo] = []
    wanted = 0
    reached: asyncio.Event | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        _Echo.made.append(self)
        if _Echo.reached is not None and len(_Echo.made) >= _Echo.wanted:
            _Echo.reached.set()

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


def _connect_many(address: tuple[str, int], n: int) -> list[socket.socket]:
    # Blocking connects complete in the kernel's queue, before the loop ever runs.
    clients = []
    for _ in range(n):
        c = socket.create_connection(address, timeout=5)
        clients.append(c)
    return clients


async def _settle(acceptor: BatchAcceptor) -> None:
    async with asyncio.timeout(5):
        await acceptor.wait_closed()


@pytest.mark.parametrize(
    "loop_factory", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"]
)
def test_every_queued_connection_is_accepted_on_one_readiness(loop_factory) -> None:
    sock = _listener()
    clients = _connect_many(sock.getsockname(), 300)

    async def main() -> int:
        _Echo.made, _Echo.reached = [], None
        acceptor = BatchAcceptor(asyncio.get_running_loop(), sock, _Echo)
        acceptor._accept()  # what one readiness of the listening socket does
        taken = len(acceptor._opening)
        await _settle(acceptor)
        acceptor.close()
        assert len(_Echo.made) == taken
        return taken

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            assert runner.run(main()) == 300
    finally:
        for c in clients:
            c.close()
        sock.close()


def test_a_burst_beyond_the_batch_waits_for_the_next_turn() -> None:
    sock = _listener()
    clients = _connect_many(sock.getsockname(), BATCH + 10)

    async def main() -> tuple[int, int]:
        _Echo.made, _Echo.wanted, _Echo.reached = [], BATCH + 10, asyncio.Event()
        acceptor = BatchAcceptor(asyncio.get_running_loop(), sock, _Echo)
        acceptor._accept()
        first = len(acceptor._opening)  # taken at once, before the loop turns again
        async with asyncio.timeout(5):  # the rest: on the loop's own next readiness
            await _Echo.reached.wait()
        acceptor.close()
        return first, len(_Echo.made)

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(main()) == (BATCH, BATCH + 10)
    finally:
        for c in clients:
            c.close()
        sock.close()


def test_accepted_connections_carry_data_and_a_closed_acceptor_takes_no_more() -> None:
    sock = _listener()

    async def main() -> bytes:
        _Echo.made, _Echo.reached = [], None
        loop = asyncio.get_running_loop()
        acceptor = BatchAcceptor(loop, sock, _Echo)
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(*sock.getsockname())
            writer.write(b"ping")
            echoed = await reader.readexactly(4)
            writer.close()
        acceptor.close()
        acceptor.close()  # twice is harmless, as for asyncio.Server
        # Still queued by the kernel, but nobody takes it any more.
        late = socket.create_connection(sock.getsockname(), timeout=5)
        await asyncio.sleep(0)  # one loop turn in which a reader would have fired
        late.close()
        assert len(_Echo.made) == 1
        return echoed

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(main()) == b"ping"
    finally:
        sock.close()


def test_tcp_connections_are_accepted_without_nagle_delay() -> None:
    sock = _listener()
    client = socket.create_connection(sock.getsockname(), timeout=5)

    async def main() -> int:
        _Echo.made, _Echo.reached = [], None
        acceptor = BatchAcceptor(asyncio.get_running_loop(), sock, _Echo)
        acceptor._accept()
        await _settle(acceptor)
        accepted = _Echo.made[0].transport.get_extra_info("socket")
        acceptor.close()
        return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(main()) != 0
    finally:
        client.close()
        sock.close()
