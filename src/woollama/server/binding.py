"""The Unix socket, the loopback TCP port and the address file that names it."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from woollama.errors import WoollamaError
from woollama.server.guard import is_loopback, split_host

SOCKET_NAME = "woollama.sock"
ADDRESS_NAME = "woollama.addr"
PORT_NAME = "woollama.port"  # in the state dir: the address file goes away on shutdown

log = logging.getLogger(__name__)


class BindError(WoollamaError):
    """woollama cannot or must not listen where it was asked to."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(
    value: str | None,
    token: str | None,
    *,
    host: str | None = None,
    port: int | None = None,
) -> Address:
    """`WOOLLAMA_ADDRESS` (host:port or [v6]:port) with `--host`/`--port` over its parts.

    Without either, an ephemeral port on 127.0.0.1. Off loopback needs a token.
    """
    chosen_host, chosen_port = _split_address(value) if value else ("127.0.0.1", 0)
    source = f"WOOLLAMA_ADDRESS={value}"
    if host is not None:
        chosen_host, source = _option_host(host), f"--host {host}"
    if port is not None:
        if not 0 <= port <= 65535:
            raise BindError(f"--port {port}: a port is 0-65535", exit_code=2)
        chosen_port = port
    if chosen_host == "localhost":
        chosen_host = "127.0.0.1"
    if not is_loopback(chosen_host) and not token:
        raise BindError(
            f"refusing to listen on {chosen_host} ({source}): that is not a loopback "
            "address, and without WOOLLAMA_TOKEN anyone who can reach it could use your "
            "keys and tools. Set WOOLLAMA_TOKEN to require a bearer token, or use 127.0.0.1.",
            exit_code=2,
        )
    return Address(chosen_host, chosen_port)


def _split_address(value: str) -> tuple[str, int]:
    host, port_text = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise BindError(f"WOOLLAMA_ADDRESS={value!r}: missing ']'", exit_code=2)
        host, port_text = value[1:end], value[end + 1 :].removeprefix(":")
    elif ":" in value:
        host, port_text = value.rsplit(":", 1)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535 or not host:
        raise BindError(
            f"WOOLLAMA_ADDRESS={value!r} must be host:port (or [v6]:port), port 0-65535",
            exit_code=2,
        )
    return split_host(f"[{host}]" if ":" in host else host), int(port_text)


def _option_host(value: str) -> str:
    host = value.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        # A colon is only an IPv6 literal here; a port belongs in --port.
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BindError(
                f"--host {value!r}: give a host name or IP address, and the port with --port",
                exit_code=2,
            ) from None
    if not host:
        raise BindError("--host needs a host name or IP address", exit_code=2)
    return host


def bind_tcp(address: Address, preferred_port: int | None = None) -> socket.socket:
    """Listen on `address`, first trying `preferred_port` (the last run's) if given.

    The preferred port is only a wish: when it is taken the socket gets `address`'s
    own port, so a restart never fails because another program holds the old one.
    """
    if preferred_port:
        try:
            return _bind_tcp(Address(address.host, preferred_port))
        except BindError as exc:
            log.info("%s; listening on another port", exc.message)
    return _bind_tcp(address)


def _bind_tcp(address: Address) -> socket.socket:
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(2048)
    except OSError as exc:
        raise BindError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def _is_live(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # e.g. a full backlog: someone is there
    finally:
        probe.close()
    return True


def ensure_private_dir(path: Path) -> None:
    """Create `path` with mode 0700, or accept an existing one only if it is exactly that.

    The directory sits in a world-writable place: one we did not make, or that others
    can enter, could be a trap another user planted to receive our socket and address.
    """
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise BindError(f"cannot create {path}: {exc.strerror or exc}") from None
    else:
        os.chmod(path, 0o700)  # a restrictive umask may have taken our own bits too
    info = path.lstat()
    uid = os.getuid()
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symlink"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != uid:
        problem = f"belongs to uid {info.st_uid}, not to us (uid {uid})"
    elif stat.S_IMODE(info.st_mode) != 0o700:
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}, not 0700"
    if problem:
        raise BindError(
            f"refusing to use {path} for the socket: it {problem}, so another user could "
            "have planted it. Remove it (woollama recreates it), or set XDG_RUNTIME_DIR to "
            "a directory only you can reach.",
            exit_code=2,
        )


def bind_unix(path: Path) -> socket.socket:
    """Bind the socket with mode 0600, never taking it from a live instance."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if _is_live(path):
            raise BindError(
                f"another woollama is already listening on {path}; stop it first "
                "(or give this one its own XDG_RUNTIME_DIR)"
            )
        path.unlink()  # stale: its owner died without cleaning up
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # no window in which the socket is reachable by others
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot create socket {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def write_address_file(path: Path, address: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(address + "\n")
    os.replace(tmp, path)  # readers never see a half-written address


def read_last_port(path: Path) -> int | None:
    """The port the last run listened on, or None if there is no usable record."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and 0 < int(text) <= 65535 else None


def remember_port(path: Path, port: int) -> None:
    """Record the port for the next start; a failure costs only the stable port."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_address_file(path, str(port))
    except OSError as exc:
        log.warning("cannot record the port in %s: %s", path, exc.strerror or exc)


def remove_if_ours(path: Path, *, inode: int | None = None, content: str | None = None) -> None:
    """Remove a file we created, unless another instance has since replaced it."""
    with contextlib.suppress(OSError):
        if inode is not None and path.lstat().st_ino != inode:
            return
        if content is not None and path.read_text().strip() != content:
            return
        path.unlink()
