"""An error answer leaves the connection open: a pooled client's next request on it works.

Starlette's last-resort handler answers an unexpected error and then re-raises it,
and uvicorn closes the connection of an app that raised; a keep-alive client then
fails its next request too. The client port the server saw (the local address of
httpx2's one pooled connection) shows which connection each request used.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import STARTUP_TIMEOUT, Woollama, base_env, read_line, write_config
from tests.surfaces.conftest import closed_port
from tests.surfaces.faulty_kind import BUG

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("keep-alive")
    with FakeOpenAI() as fake:
        write_config(
            root / "config",
            inferencers=f"""
[inferencers.fake]
base_url = "{fake.base_url}"

[inferencers.down]
base_url = "http://127.0.0.1:{closed_port()}/v1"

[inferencers.faulty]
kind = "faulty"
base_url = "http://127.0.0.1:9/v1"
""",
        )
        running = start_with_faulty_kind(root)
        try:
            yield running
        finally:
            running.stop()


def start_with_faulty_kind(root: Path) -> Woollama:
    """`harness.start`, but through tests.surfaces.faulty_kind, which adds the kind."""
    env = base_env(root)
    (root / "run").mkdir(parents=True, exist_ok=True)
    log_path = root / "woollama.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.surfaces.faulty_kind"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
    server = Woollama(proc, root / "config", root / "run", log_path, env=env)
    server.banner = read_line(proc, STARTUP_TIMEOUT)
    if "listening" not in server.banner:
        server.stop(signal.SIGKILL)
        raise AssertionError(f"woollama did not start: {server.banner!r}\n{server.log()}")
    server.address = server.address_file.read_text().strip()
    return server


def client_port(response: httpx2.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def chat(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def test_after_4xx_answers_the_next_request_uses_the_same_connection(server: Woollama):
    # Was a 500: json.loads refuses an integer past Python's digit limit.
    huge_number = b'{"model": "fake/m", "n": ' + b"9" * 4301 + b"}"
    with server.http() as http:
        ports = set()
        errors = [
            http.post("/v1/chat/completions", content=b""),
            http.post("/v1/chat/completions", json={"model": "nowhere/m", "messages": []}),
            http.get("/v1/no-such-route"),
            http.post("/v1/chat/completions", content=huge_number),
        ]
        for response in errors:
            assert 400 <= response.status_code < 500, response.text
            assert response.json()["error"]["message"]
            ports.add(client_port(response))
        ok = http.post("/v1/chat/completions", json=chat("fake/m"))
        assert ok.status_code == 200, ok.text
        ports.add(client_port(ok))
    assert len(ports) == 1, f"the client had to reconnect: ports {ports}"


def test_after_5xx_answers_the_next_request_uses_the_same_connection(server: Woollama):
    with server.http() as http:
        down = http.post("/v1/chat/completions", json=chat("down/m"))
        assert down.status_code == 502, down.text
        # An error no handler knows (a bug in an adapter): 500, in the OpenAI shape.
        bug = http.post("/v1/chat/completions", json=chat("faulty/broken"))
        assert bug.status_code == 500, bug.text
        error = bug.json()["error"]
        assert error["type"] == "server_error"
        assert "RuntimeError" in error["message"]
        assert {"message", "type", "param", "code"} <= set(error)
        after = http.get("/v1/models")
        assert after.status_code == 200
        ports = {client_port(r) for r in (down, bug, after)}
    assert len(ports) == 1, f"the client had to reconnect: ports {ports}"
    log = server.log()
    assert BUG in log  # the bug itself is logged in full, with its traceback
    assert "Exception in ASGI application" not in log  # uvicorn never saw it
