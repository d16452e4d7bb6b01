"""Helpers for driving woollama's downstream-MCP supervision from the outside."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness import Woollama

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
HELLO = EXAMPLES / "hello.py"
HELLO_TOOLS = {"hello.hello", "hello.count_to", "hello.ask_user"}
MODEL_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")

DEADLINE = 20.0  # seconds: a reconnect needs a missed ping (2 s) plus backoff
POLL_INTERVAL = 0.1

Tools = dict[str, Any]


def tools(server: Woollama, wait: float | None = None) -> Tools:
    params = {} if wait is None else {"wait": str(wait)}
    with server.http() as http:
        response = http.get("/v1/tools", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def server_health(body: Tools, name: str) -> dict[str, Any]:
    [health] = [s for s in body["servers"] if s["name"] == name]
    return health


def tools_of(body: Tools, name: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in body["data"] if t["server"] == name}


def poll_tools(
    server: Woollama,
    until: Callable[[Tools], bool],
    what: str,
    deadline: float = DEADLINE,
) -> Tools:
    """Poll `GET /v1/tools` until `until(body)` holds; fail after `deadline` seconds."""
    give_up = time.monotonic() + deadline
    seen: list[Any] = []
    with server.http() as http:
        while True:
            response = http.get("/v1/tools")
            assert response.status_code == 200, response.text
            body = response.json()
            if until(body):
                return body
            if not seen or seen[-1] != body["servers"]:
                seen.append(body["servers"])
            if time.monotonic() > give_up:
                raise AssertionError(
                    f"not {what} within {deadline:g}s; health seen:\n{seen}\n"
                    f"woollama log:\n{server.log()[-4000:]}"
                )
            time.sleep(POLL_INTERVAL)


def status_is(name: str, *statuses: str, min_connects: int = 0) -> Callable[[Tools], bool]:
    def check(body: Tools) -> bool:
        health = server_health(body, name)
        return health["status"] in statuses and health["connects"] >= min_connects

    return check


def free_port() -> int:
    """A loopback port with nothing listening on it (released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> dict[int, str]:
    """Direct child processes of `pid`, as {pid: command line}."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # exited while we looked
            continue
        # The command name in field 2 may contain spaces and parentheses.
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == pid:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


class Background:
    """A child process whose output is drained by a thread, so it can never stall."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            list(args),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        """Block (bounded) until a line of output matches `pattern`."""
        regex = re.compile(pattern)
        give_up = time.monotonic() + timeout
        checked = 0
        with self._changed:
            while True:
                for line in self.lines[checked:]:
                    if match := regex.search(line):
                        return match
                checked = len(self.lines)
                left = give_up - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{self.proc.args} never printed {pattern!r}:\n{''.join(self.lines)}"
                    )
                self._changed.wait(left)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)


@contextmanager
def background(
    args: Sequence[str], ready: str, env: dict[str, str] | None = None
) -> Iterator[Background]:
    """Run `args` until the block ends, once it has printed a line matching `ready`."""
    process = Background(args, env)
    try:
        process.wait_for(ready)
        yield process
    finally:
        process.stop()
