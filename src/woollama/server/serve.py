"""Running the app on the Unix socket and the loopback port until a signal."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import uvicorn

from woollama.config.models import Config
from woollama.config.paths import private_tmp_dir, runtime_dir, state_dir
from woollama.server.accept import BatchAcceptor
from woollama.server.app import ServerSettings, create_app
from woollama.server.binding import (
    ADDRESS_NAME,
    PORT_NAME,
    SOCKET_NAME,
    Address,
    bind_tcp,
    bind_unix,
    ensure_private_dir,
    parse_address,
    read_last_port,
    remember_port,
    remove_if_ours,
    write_address_file,
)
from woollama.server.http_protocol import HeadWithBody
from woollama.server.startup import StartupLines

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 75  # seconds an idle client connection is kept (see serve)


def serve(
    config: Config,
    env: Mapping[str, str] = os.environ,
    announce: Callable[[str], None] = print,
    *,
    host: str | None = None,
    port: int | None = None,
    socket_path: Path | None = None,
) -> None:
    """Bind, announce the base URL, serve until SIGINT/SIGTERM, then clean up.

    `host`, `port` and `socket_path` (the command-line options) win over
    `WOOLLAMA_ADDRESS` and the defaults. Raises `BindError` before anything is
    created when woollama must not start.
    """
    raise_open_files_limit()
    token = env.get("WOOLLAMA_TOKEN") or None
    address = parse_address(env.get("WOOLLAMA_ADDRESS"), token, host=host, port=port)
    # Clients keep a base_url, so an unpinned port is the last run's when it is free.
    port_path = state_dir(env) / PORT_NAME
    pinned = port is not None or bool(env.get("WOOLLAMA_ADDRESS"))
    preferred_port = None if pinned else read_last_port(port_path)
    run_dir = runtime_dir(env)
    if run_dir == private_tmp_dir(env):
        ensure_private_dir(run_dir)
    socket_path = socket_path or run_dir / SOCKET_NAME
    address_path = run_dir / ADDRESS_NAME

    unix_sock = bind_unix(socket_path)
    socket_inode = socket_path.lstat().st_ino
    try:
        tcp_sock = bind_tcp(address, preferred_port)
    except BaseException:
        unix_sock.close()
        remove_if_ours(socket_path, inode=socket_inode)
        raise
    bound_host, bound_port = tcp_sock.getsockname()[:2]
    bound = str(Address(bound_host, bound_port))
    settings = ServerSettings.from_env(env, bind_host=address.host)
    settings = dataclasses.replace(settings, address=bound, socket=str(socket_path))
    startup = StartupLines()
    app = create_app(config, settings, startup)

    def started() -> None:
        write_address_file(address_path, bound)
        remember_port(port_path, bound_port)
        announce(f"woollama listening: OpenAI base_url http://{bound}/v1 (socket {socket_path})")
        startup.release(announce)  # then each MCP server, as it connects or fails
        # What start-up built (config, SDKs, the app) lives as long as the process; out
        # of the collector's sight, each collection has that much less to walk.
        gc.freeze()

    server = _Server(
        uvicorn.Config(
            app,
            lifespan="on",
            loop="uvloop",
            http=HeadWithBody,  # httptools, a whole answer in one write
            log_level=_uvicorn_level(),
            access_log=False,
            timeout_graceful_shutdown=5,
            # Longer than the clients' own idle expiry (aiohttp 15 s, httpx 5 s): the
            # client closes an idle connection first, so it never reuses one that the
            # server is closing at that moment (a lost request on a pooled client).
            timeout_keep_alive=KEEP_ALIVE_S,
            server_header=False,
            proxy_headers=False,  # woollama is the edge; forwarded headers are not trusted
        ),
        on_started=started,
    )
    # Until uvicorn installs its own handlers a SIGTERM must still stop us, and
    # after shutdown uvicorn re-raises the signal it caught: with the default
    # action that would kill the process before the clean-up below.
    previous = signal.signal(signal.SIGTERM, lambda *_: server.request_exit())
    try:
        server.run(sockets=[tcp_sock, unix_sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        tcp_sock.close()
        unix_sock.close()
        remove_if_ours(address_path, content=bound)
        remove_if_ours(socket_path, inode=socket_inode)
    if not server.started:
        # The lifespan failed (uvicorn logged why); an exit status must say so.
        sys.exit(3)


class _Server(uvicorn.Server):
    """A uvicorn server that announces itself only once the lifespan is up."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]):
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn runs the lifespan and makes no listeners of its own for an empty
        # list; ours accept in batches (server/accept.py) and close as its would.
        await super().startup([])
        if not self.started:
            return
        config = self.config
        factory = functools.partial(
            config.http_protocol_class,
            config=config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        loop = asyncio.get_running_loop()
        self.servers = [BatchAcceptor(loop, sock, factory) for sock in sockets or ()]  # type: ignore[misc]
        self._on_started()

    def request_exit(self) -> None:
        self.should_exit = True


OPEN_FILES_WANTED = 65536


def raise_open_files_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise the soft limit on open files towards the hard one; returns the limit.

    Every stream holds two descriptors (the client's connection and the backend's),
    so the usual soft limit of 1024 would refuse connections at about 500 streams;
    the hard limit is what the system lets a process choose.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d: %s", soft, exc)
            return soft
        return target
    return soft


def _uvicorn_level() -> str:
    return logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
