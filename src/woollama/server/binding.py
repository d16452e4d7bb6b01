"""The Unix socket, the loopback TCP port and the address file that names it."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from woollama.errors import WoollamaError
from woollama.server.guard import is_loopback, split_host

SOCKET_NAME = "woollama.sock"
ADDRESS_NAME = "woollama.addr"


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


def parse_address(value: str | None, token: str | None) -> Address:
    """`WOOLLAMA_ADDRESS` (host:port or [v6]:port), defaulting to an ephemeral loopback port."""
    if not value:
        return Address("127.0.0.1", 0)
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
    host = split_host(f"[{host}]" if ":" in host else host)
    if host == "localhost":
        host = "127.0.0.1"
    if not is_loopback(host) and not token:
        raise BindError(
            f"refusing to listen on {value}: that is not a loopback address, and "
            "without WOOLLAMA_TOKEN anyone who can reach it could use your keys and tools. "
            "Set WOOLLAMA_TOKEN to require a bearer token, or use 127.0.0.1.",
            exit_code=2,
        )
    return Address(host, int(port_text))


def bind_tcp(address: Address) -> socket.socket:
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


def remove_if_ours(path: Path, *, inode: int | None = None, content: str | None = None) -> None:
    """Remove a file we created, unless another instance has since replaced it."""
    with contextlib.suppress(OSError):
        if inode is not None and path.lstat().st_ino != inode:
            return
        if content is not None and path.read_text().strip() != content:
            return
        path.unlink()
