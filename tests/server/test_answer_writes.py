"""How woollama writes answers on the wire: a whole answer's head and body in one
write, a stream's head as soon as it is known."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx2
import pytest

from tests.fakes.raw_http import CHAT, SSE_END, SSE_HEAD, Answer, RawBackend, sse_event
from tests.harness import Woollama, start, write_config

USER = [{"role": "user", "content": "x"}]


@pytest.fixture(scope="module")
def backend() -> Iterator[RawBackend]:
    with RawBackend() as raw:
        yield raw


@pytest.fixture(scope="module")
def server(backend: RawBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("writes")
    write_config(
        root / "config",
        inferencers=f'[inferencers.raw]\nbase_url = "{backend.base_url}"\n',
        mcp={"mcpServers": {}},
    )
    woollama = start(root)
    yield woollama
    woollama.stop()


def test_a_whole_answer_arrives_in_one_piece(server: Woollama, backend: RawBackend):
    host, port = server.address.rsplit(":", 1)
    body = json.dumps({"model": "raw/m", "messages": USER}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection((host, int(port)), timeout=10.0) as sock:
        sock.sendall(request)
        first = sock.recv(65536)  # whatever arrived first, as soon as anything did
    head, _, rest = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert rest == CHAT


def test_a_streams_head_reaches_the_client_before_its_first_event(
    server: Woollama, backend: RawBackend
):
    answer = Answer([SSE_HEAD, sse_event("one", last=True) + SSE_END])
    backend.script(answer)
    stream = {"model": "raw/m", "messages": USER, "stream": True}
    with (
        httpx2.Client(base_url=f"http://{server.address}", timeout=5.0) as http,
        http.stream("POST", "/v1/chat/completions", json=stream) as response,
    ):
        # The backend holds its first event until released: the status and headers
        # came on their own.
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        answer.release()
        text = b"".join(response.iter_bytes()).decode()
    assert '"content":"one"' in text
    assert text.rstrip().endswith("data: [DONE]")
