"""A stable TCP port across restarts, and the --host/--port/--socket options."""

from __future__ import annotations

import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from tests.harness import STARTUP_TIMEOUT, Woollama, base_env, read_line, spawn, write_config

Launch = Callable[..., Woollama]


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Start woollama under `root` with command-line `args`; all are stopped at teardown."""
    started: list[Woollama] = []

    def run(root: Path, *args: str, env: dict[str, str] | None = None) -> Woollama:
        write_config(root / "config")
        full_env = base_env(root, env)
        proc, log_path = spawn(root, full_env, *args)
        server = Woollama(proc, root / "config", root / "run", log_path, env=full_env)
        started.append(server)
        server.banner = read_line(proc, STARTUP_TIMEOUT)
        assert "listening" in server.banner, server.log()
        server.address = server.address_file.read_text().strip()
        return server

    yield run
    for server in started:
        server.stop()


def free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def port_of(server: Woollama) -> int:
    return int(server.address.rsplit(":", 1)[1])


def test_a_restarted_woollama_comes_back_on_the_same_port(launch: Launch, tmp_path: Path):
    first = launch(tmp_path)
    assert first.stop() == 0
    again = launch(tmp_path)
    assert again.address == first.address
    assert again.client().models.list().object == "list"


def test_when_the_last_port_is_taken_it_starts_on_another(launch: Launch, tmp_path: Path):
    first = launch(tmp_path)
    assert first.stop() == 0
    holder = socket.socket()
    holder.bind(("127.0.0.1", port_of(first)))
    holder.listen()
    try:
        again = launch(tmp_path)
        assert port_of(again) != port_of(first)
        assert again.client().models.list().object == "list"
        assert holder.getsockname()[1] == port_of(first)  # the other program keeps its port
    finally:
        holder.close()


def test_woollama_address_wins_over_the_remembered_port(launch: Launch, tmp_path: Path):
    first = launch(tmp_path)
    assert first.stop() == 0
    wanted = free_port()
    again = launch(tmp_path, env={"WOOLLAMA_ADDRESS": f"127.0.0.1:{wanted}"})
    assert again.address == f"127.0.0.1:{wanted}"


@pytest.mark.parametrize("form", [("serve", "--port"), ("--port",)])
def test_port_option_binds_that_port_over_woollama_address(
    launch: Launch, tmp_path: Path, form: tuple[str, ...]
):
    wanted = free_port()
    server = launch(
        tmp_path, *form, str(wanted), env={"WOOLLAMA_ADDRESS": f"127.0.0.1:{free_port()}"}
    )
    assert server.address == f"127.0.0.1:{wanted}"
    assert f"http://127.0.0.1:{wanted}/v1" in server.banner
    assert server.client().models.list().object == "list"


def test_host_option_replaces_only_the_host_of_woollama_address(launch: Launch, tmp_path: Path):
    wanted = free_port()
    server = launch(
        tmp_path, "--host", "127.0.0.2", env={"WOOLLAMA_ADDRESS": f"127.0.0.1:{wanted}"}
    )
    assert server.address == f"127.0.0.2:{wanted}"
    assert server.client().models.list().object == "list"


def test_host_option_off_loopback_listens_when_a_token_is_set(launch: Launch, tmp_path: Path):
    server = launch(tmp_path, "serve", "--host", "0.0.0.0", env={"WOOLLAMA_TOKEN": "s3cret"})
    assert server.address.startswith("0.0.0.0:")
    server.address = f"127.0.0.1:{port_of(server)}"  # reach the wildcard over loopback
    with pytest.raises(openai.AuthenticationError):
        server.client(api_key="wrong").models.list()
    assert server.client().models.list().object == "list"


def test_socket_option_puts_the_socket_where_asked(launch: Launch, tmp_path: Path):
    wanted = tmp_path / "elsewhere" / "my.sock"
    server = launch(tmp_path, "--socket", str(wanted))
    info = wanted.lstat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert f"(socket {wanted})" in server.banner
    assert not server.socket_path.exists()  # nothing at the default place
    assert server.address_file.exists()  # clients still find the address where they look
    transport = httpx2.HTTPTransport(uds=str(wanted))
    with httpx2.Client(transport=transport, timeout=30.0) as http:
        client = openai.OpenAI(
            base_url="http://localhost/v1", api_key="unused", max_retries=0, http_client=http
        )
        assert client.models.list().object == "list"
    assert server.stop() == 0
    assert not wanted.exists()
