"""Where and how woollama listens: socket, loopback port, address file, signals."""

from __future__ import annotations

import signal
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import Woollama, base_env, read_line, spawn, write_config
from woollama.server.binding import BindError, parse_address


def test_socket_is_private_and_address_file_names_the_port(woollama: Callable[..., Woollama]):
    server = woollama()
    mode = stat.S_IMODE(server.socket_path.stat().st_mode)
    assert stat.S_ISSOCK(server.socket_path.stat().st_mode)
    assert mode == 0o600
    host, port = server.address_file.read_text().strip().rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert f"http://{host}:{port}/v1" in server.banner


def test_tcp_and_unix_socket_serve_the_same_app(woollama: Callable[..., Woollama]):
    server = woollama(
        inferencers='[inferencers.static]\nbase_url = "http://127.0.0.1:1/v1"\nmodels = ["m"]\n'
    )
    over_tcp = {m.id for m in server.client().models.list()}
    over_unix = {m.id for m in server.unix_client().models.list()}
    assert "static/m" in over_tcp
    assert over_tcp == over_unix


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly_and_removes_what_it_created(
    woollama: Callable[..., Woollama], sig: int
):
    server = woollama()
    assert server.stop(sig) == 0
    assert not server.socket_path.exists()
    assert not server.address_file.exists()


def test_second_instance_refuses_to_take_a_live_socket(
    woollama: Callable[..., Woollama], tmp_path: Path
):
    first = woollama()
    env = base_env(tmp_path / "second", {"XDG_RUNTIME_DIR": str(first.runtime_dir)})
    proc, log_path = spawn(tmp_path / "second", env)
    assert proc.wait(20) == 1
    assert "already listening" in log_path.read_text()
    # The first instance is untouched and still answers on its socket.
    assert first.socket_path.exists()
    assert first.address_file.read_text().strip() == first.address
    assert first.unix_client().models.list().data is not None


def test_stale_socket_is_replaced(woollama: Callable[..., Woollama], tmp_path: Path):
    root = tmp_path / "stale"
    (root / "run").mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(root / "run" / "woollama.sock"))
    dead.close()  # bound but nobody listening: what a crashed instance leaves
    server = woollama(root=root)
    assert server.unix_client().models.list().object == "list"


def test_off_loopback_address_without_token_is_refused_with_exit_2(tmp_path: Path):
    write_config(tmp_path / "config")
    env = base_env(tmp_path, {"WOOLLAMA_ADDRESS": "0.0.0.0:0"})
    proc, log_path = spawn(tmp_path, env)
    assert proc.wait(20) == 2
    message = log_path.read_text()
    assert "WOOLLAMA_TOKEN" in message and "0.0.0.0" in message
    assert read_line(proc, 1) == ""  # never announced a base_url
    assert not (tmp_path / "run" / "woollama.sock").exists()


def test_woollama_address_binds_the_requested_port(woollama: Callable[..., Woollama]):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = woollama(env={"WOOLLAMA_ADDRESS": f"127.0.0.1:{port}"})
    assert server.address == f"127.0.0.1:{port}"
    assert server.client().models.list().object == "list"


@pytest.mark.skipif(not socket.has_ipv6, reason="this kernel has no IPv6")
def test_ipv6_loopback_address(woollama: Callable[..., Woollama]):
    server = woollama(env={"WOOLLAMA_ADDRESS": "[::1]:0"})
    assert server.address.startswith("[::1]:")
    assert server.client().models.list().object == "list"


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        (None, "127.0.0.1", 0),
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("localhost:1", "127.0.0.1", 1),
        ("[::1]:9", "::1", 9),
        ("127.1.2.3:0", "127.1.2.3", 0),
    ],
)
def test_parse_address_accepts_loopback_forms(value, host, port):
    address = parse_address(value, token=None)
    assert (address.host, address.port) == (host, port)


@pytest.mark.parametrize("value", ["nocolon", "127.0.0.1:", "127.0.0.1:99999", "[::1:5", ":80"])
def test_parse_address_rejects_malformed_values(value):
    with pytest.raises(BindError) as info:
        parse_address(value, token="t")
    assert info.value.exit_code == 2


def test_parse_address_allows_off_loopback_only_with_a_token():
    with pytest.raises(BindError):
        parse_address("192.0.2.1:80", token=None)
    assert parse_address("192.0.2.1:80", token="secret").host == "192.0.2.1"


@pytest.mark.parametrize(
    ("env_value", "host", "port", "expected"),
    [
        (None, "127.0.0.2", None, ("127.0.0.2", 0)),
        (None, None, 8765, ("127.0.0.1", 8765)),
        ("127.0.0.1:8080", "::1", None, ("::1", 8080)),
        ("127.0.0.1:8080", "[::1]", 9, ("::1", 9)),
        ("127.0.0.1:8080", "LOCALHOST", None, ("127.0.0.1", 8080)),
    ],
)
def test_host_and_port_options_take_precedence_over_woollama_address(
    env_value, host, port, expected
):
    address = parse_address(env_value, token=None, host=host, port=port)
    assert (address.host, address.port) == expected


def test_host_option_off_loopback_needs_a_token_even_if_woollama_address_is_loopback():
    with pytest.raises(BindError) as info:
        parse_address("127.0.0.1:80", token=None, host="0.0.0.0")
    assert info.value.exit_code == 2
    assert "--host 0.0.0.0" in info.value.message
    assert parse_address("127.0.0.1:80", token="t", host="0.0.0.0").host == "0.0.0.0"


@pytest.mark.parametrize(("host", "port"), [("127.0.0.1:80", None), ("", None), (None, 70000)])
def test_malformed_host_or_port_options_are_refused_with_exit_2(host, port):
    with pytest.raises(BindError) as info:
        parse_address(None, token="t", host=host, port=port)
    assert info.value.exit_code == 2
