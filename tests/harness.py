"""Start a real woollama process on real sockets, the way a user does."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai

from tests.fakes.openai_backend import FakeOpenAI

STARTUP_TIMEOUT = 20.0


@dataclass
class Woollama:
    proc: subprocess.Popen[str]
    config_dir: Path
    runtime_dir: Path
    log_path: Path
    banner: str = ""
    address: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.address}/v1"

    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "woollama.sock"

    @property
    def address_file(self) -> Path:
        return self.runtime_dir / "woollama.addr"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", self.env.get("WOOLLAMA_TOKEN") or "unused")
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        return openai.OpenAI(base_url=self.base_url, **kwargs)

    def unix_client(self, **kwargs: Any) -> openai.OpenAI:
        transport = httpx2.HTTPTransport(uds=str(self.socket_path))
        http = httpx2.Client(transport=transport, timeout=30.0)
        return openai.OpenAI(
            base_url="http://localhost/v1",
            api_key="unused",
            max_retries=0,
            http_client=http,
            **kwargs,
        )

    def http(self, **kwargs: Any) -> httpx2.Client:
        return httpx2.Client(base_url=f"http://{self.address}", timeout=30.0, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"woollama ignored signal {sig}; log:\n{self.log()}") from None
        return self.proc.returncode


def write_config(
    config_dir: Path,
    *,
    inferencers: str | None = None,
    recipes: str | None = None,
    mcp: dict[str, Any] | None = None,
) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    if inferencers is not None:
        (config_dir / "inferencers.toml").write_text(inferencers)
    if recipes is not None:
        (config_dir / "recipes.toml").write_text(recipes)
    if mcp is not None:
        (config_dir / "mcp.json").write_text(json.dumps(mcp))


def base_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WOOLLAMA_", "XDG_")) and not k.endswith("_API_KEY")
    }
    env.update(
        WOOLLAMA_CONFIG_DIR=str(root / "config"),
        WOOLLAMA_STATE_DIR=str(root / "state"),
        XDG_RUNTIME_DIR=str(root / "run"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def spawn(root: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], Path]:
    """Run `python -m woollama ARGS`, stdout piped, stderr to a log file."""
    (root / "run").mkdir(parents=True, exist_ok=True)
    log_path = root / f"woollama-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "woollama", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    return proc, log_path


def start(root: Path, extra_env: dict[str, str] | None = None) -> Woollama:
    """Start woollama with `root/config` and wait (bounded) for its banner."""
    env = base_env(root, extra_env)
    proc, log_path = spawn(root, env)
    server = Woollama(proc, root / "config", root / "run", log_path, env=env)
    server.banner = read_line(proc, STARTUP_TIMEOUT)
    if "listening" not in server.banner:
        server.stop(signal.SIGKILL)
        raise AssertionError(f"woollama did not start: {server.banner!r}\n{server.log()}")
    server.address = server.address_file.read_text().strip()
    return server


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """One line of the child's stdout, or '' once it exits or the time is up."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline()


def fake_inferencer(fake: Any, name: str = "fake") -> str:
    """An `inferencers.toml` section pointing provider `name` at a fake backend."""
    return f'[inferencers.{name}]\nbase_url = "{fake.base_url}"\n'


@contextlib.contextmanager
def router_with_fake(
    root: Path,
    *,
    recipes: str | None = None,
    mcp: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[Woollama, FakeOpenAI]]:
    """A woollama whose provider `fake` is a scripted backend, its MCP servers connected."""
    with FakeOpenAI() as fake:
        write_config(root / "config", inferencers=fake_inferencer(fake), recipes=recipes, mcp=mcp)
        server = start(root, env)
        try:
            token = server.env.get("WOOLLAMA_TOKEN")
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            server.http(headers=auth).get("/v1/tools", params={"wait": 20})
            yield server, fake
        finally:
            server.stop()


def reset(fake: FakeOpenAI) -> FakeOpenAI:
    """A shared fake, clean for the next test."""
    fake.requests.clear()
    assert fake.pending_replies == 0, "a previous test left scripted replies"
    return fake
