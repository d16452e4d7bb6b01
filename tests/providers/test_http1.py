"""The pass-through's own HTTP/1.1 client, met the way a user meets it: a real woollama
relaying to a backend that answers with raw bytes (keep-alive or not, with or
without a length, stalling, not HTTP at all)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import openai
import pytest

from tests.fakes.raw_http import (
    CHAT,
    SSE_END,
    SSE_HEAD,
    Answer,
    RawBackend,
    json_answer,
    sse_event,
)
from tests.harness import Woollama, start, write_config

READ_TIMEOUT_S = 1.0
USER = [{"role": "user", "content": "x"}]


@pytest.fixture(scope="module")
def backend() -> Iterator[RawBackend]:
    with RawBackend() as raw:
        yield raw


@pytest.fixture(scope="module")
def server(backend: RawBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("http1")
    write_config(
        root / "config",
        inferencers=(
            f'[inferencers.raw]\nbase_url = "{backend.base_url}"\ntimeout = {READ_TIMEOUT_S}\n'
            f'[inferencers.crlf]\nbase_url = "{backend.base_url}"\napi_key_env = "CRLF_KEY"\n'
        ),
        mcp={"mcpServers": {}},
    )
    woollama = start(root, {"CRLF_KEY": "secret\r\nx-injected: yes"})
    yield woollama
    woollama.stop()


@pytest.fixture
def raw(backend: RawBackend) -> RawBackend:
    """The backend with no answers left over and its counts at zero."""
    assert backend.pending == 0, "a test left answers"
    backend.requests.clear()
    return backend


def chat(server: Woollama, **kwargs: object) -> str | None:
    answer = server.client().chat.completions.create(model="raw/m", messages=USER, **kwargs)
    return answer.choices[0].message.content


def test_sequential_requests_share_one_backend_connection(server: Woollama, raw: RawBackend):
    chat(server)  # a connection is open and idle from here on
    before = raw.connections
    for _ in range(5):
        assert chat(server) == "raw"
    assert raw.connections == before
    assert len(raw.requests) == 6


def test_after_the_backend_closes_its_connection_the_next_request_opens_another(
    server: Woollama, raw: RawBackend
):
    raw.script(Answer([json_answer(extra=b"connection: close\r\n")], close=True))
    before = raw.connections
    assert chat(server) == "raw"
    assert chat(server) == "raw"
    assert raw.connections == before + 1


def test_a_backend_that_drops_an_idle_connection_costs_no_error(server: Woollama, raw: RawBackend):
    # Keep-alive advertised, then the backend's idle timeout closes the connection.
    raw.script(Answer([json_answer()], close=True))
    finished = raw.finished
    assert chat(server) == "raw"
    assert raw.wait_for(lambda: raw.finished > finished)
    assert chat(server) == "raw"


def test_an_answer_without_a_length_ends_where_the_backend_closes(
    server: Woollama, raw: RawBackend
):
    unframed = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + CHAT
    raw.script(Answer([unframed], close=True))
    assert chat(server) == "raw"


def test_a_chunked_whole_answer_is_put_back_together(server: Woollama, raw: RawBackend):
    half = len(CHAT) // 2
    body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, CHAT[:half], len(CHAT) - half, CHAT[half:])
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n"
    raw.script(Answer([head + b"\r\n" + body]))
    with server.http() as http:
        response = http.post("/v1/chat/completions", json={"model": "raw/m", "messages": USER})
    assert response.status_code == 200
    assert response.content == CHAT


def test_a_large_answer_is_relayed_byte_for_byte(server: Woollama, raw: RawBackend):
    big = b'{"object":"list","data":[],"model":"m","pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    raw.script(Answer([json_answer(big)]))
    with server.http() as http:
        response = http.post("/v1/embeddings", json={"model": "raw/m", "input": "x"})
    assert response.status_code == 200
    assert response.content == big


def test_stream_events_reach_the_client_as_the_backend_sends_them(
    server: Woollama, raw: RawBackend
):
    answer = Answer([SSE_HEAD + sse_event("one"), sse_event("two", last=True) + SSE_END])
    raw.script(answer)
    stream = server.client().chat.completions.create(model="raw/m", messages=USER, stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.content == "one"  # while the backend holds the rest
    answer.release()
    rest = [chunk.choices[0].delta.content for chunk in stream]
    assert rest == ["two"]


def test_a_stream_that_stalls_past_the_read_timeout_ends_with_an_error_event(
    server: Woollama, raw: RawBackend
):
    answer = Answer([SSE_HEAD + sse_event("one"), SSE_END])  # the end is never released
    raw.script(answer)
    with (
        server.http() as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "raw/m", "messages": USER, "stream": True},
        ) as response,
    ):
        text = b"".join(response.iter_bytes()).decode()
    answer.release()
    assert '"content":"one"' in text
    assert "stalled past the read timeout" in text


def test_a_backend_silent_past_the_read_timeout_is_a_504(server: Woollama, raw: RawBackend):
    answer = Answer([b"", json_answer()])  # nothing until released, and it is not
    raw.script(answer)
    with pytest.raises(openai.APIStatusError) as info:
        chat(server)
    answer.release()
    assert info.value.status_code == 504
    assert "did not answer within 1 s" in info.value.message


def test_an_answer_that_is_not_http_is_a_502(server: Woollama, raw: RawBackend):
    raw.script(Answer([b"SMTP ready\r\n\r\n"], close=True))
    with pytest.raises(openai.APIStatusError) as info:
        chat(server)
    assert info.value.status_code == 502
    assert "malformed HTTP answer" in info.value.message


def test_a_client_that_gives_up_closes_the_backend_connection(server: Woollama, raw: RawBackend):
    answer = Answer([b"", json_answer()])
    raw.script(answer)
    gone = raw.closed_by_peer
    with pytest.raises(openai.APITimeoutError):
        server.client(timeout=0.5).chat.completions.create(model="raw/m", messages=USER)
    assert raw.wait_for(lambda: raw.closed_by_peer > gone), "the backend request was left open"
    answer.release()


def test_a_line_break_in_a_provider_key_adds_no_header(server: Woollama, raw: RawBackend):
    with server.http() as http:
        response = http.post("/v1/chat/completions", json={"model": "crlf/m", "messages": USER})
    assert response.status_code == 502
    assert "line break" in response.json()["error"]["message"]
    assert not any(b"x-injected" in request for request in raw.requests)


def test_the_socket_relays_through_it_too(server: Woollama, raw: RawBackend):
    transport = httpx2.HTTPTransport(uds=str(server.socket_path))
    with httpx2.Client(transport=transport, base_url="http://localhost") as http:
        response = http.post("/v1/chat/completions", json={"model": "raw/m", "messages": USER})
    assert response.status_code == 200
    assert response.content == CHAT
