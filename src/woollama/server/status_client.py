"""Asking the running woollama for its status over its Unix socket (no token needed)."""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from woollama.config.paths import runtime_dir
from woollama.server.binding import SOCKET_NAME

TIMEOUT = 10.0


class NotRunning(Exception):
    """No woollama answers on the socket."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def socket_path(env: Mapping[str, str] = os.environ) -> Path:
    return runtime_dir(env) / SOCKET_NAME


def fetch_status(path: Path | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
    path = path or socket_path()
    if not path.exists():
        raise NotRunning(f"nothing is running: no socket at {path}")
    connection = _UnixConnection(path, timeout)
    try:
        connection.request("GET", "/v1/status", headers={"accept": "application/json"})
        answer = connection.getresponse()
        body = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        raise NotRunning(f"nothing answers on {path} ({exc})") from None
    finally:
        connection.close()
    if answer.status != 200:
        raise NotRunning(f"{path} answered HTTP {answer.status}: {body[:200]!r}")
    try:
        return json.loads(body)
    except ValueError:
        raise NotRunning(f"{path} answered something that is not woollama's status") from None
