"""Without XDG_RUNTIME_DIR the socket goes to a private per-user dir, never bare /tmp.

Every test points TMPDIR into its own tmp_path, so none touches the machine's real
/tmp/woollama-<uid>.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import STARTUP_TIMEOUT, Woollama, base_env, read_line, spawn, write_config
from woollama.config.paths import runtime_dir

NOBODY = 65534


def no_xdg_env(root: Path) -> dict[str, str]:
    env = base_env(root, {"TMPDIR": str(root / "tmp")})
    env.pop("XDG_RUNTIME_DIR")
    return env


def private_dir(root: Path) -> Path:
    return root / "tmp" / f"woollama-{os.getuid()}"


@pytest.fixture
def start_without_xdg() -> Iterator[Callable[[Path], Woollama]]:
    started: list[Woollama] = []

    def launch(root: Path) -> Woollama:
        write_config(root / "config")
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        env = no_xdg_env(root)
        proc, log_path = spawn(root, env)
        server = Woollama(proc, root / "config", private_dir(root), log_path, env=env)
        started.append(server)
        server.banner = read_line(proc, STARTUP_TIMEOUT)
        assert "listening" in server.banner, server.log()
        server.address = server.address_file.read_text().strip()
        return server

    yield launch
    for server in started:
        server.stop()


def test_runtime_dir_is_per_user_under_tmpdir_unless_xdg_names_one():
    uid = os.getuid()
    assert runtime_dir({}) == Path(f"/tmp/woollama-{uid}")
    assert runtime_dir({"TMPDIR": "/scratch"}) == Path(f"/scratch/woollama-{uid}")
    assert runtime_dir({"TMPDIR": "/scratch", "XDG_RUNTIME_DIR": "/run/user/7"}) == Path(
        "/run/user/7"
    )


def test_without_xdg_the_socket_lives_in_a_private_dir(
    start_without_xdg: Callable[[Path], Woollama], tmp_path: Path
):
    server = start_without_xdg(tmp_path)
    directory = private_dir(tmp_path)
    info = directory.lstat()
    assert stat.S_ISDIR(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.getuid()
    sock = server.socket_path.lstat()
    assert stat.S_ISSOCK(sock.st_mode)
    assert stat.S_IMODE(sock.st_mode) == 0o600
    assert f"(socket {directory / 'woollama.sock'})" in server.banner
    assert server.unix_client().models.list().object == "list"
    assert not (tmp_path / "tmp" / "woollama.sock").exists()
    assert server.stop() == 0
    assert not server.socket_path.exists()
    assert not server.address_file.exists()


def test_an_existing_private_dir_is_used_again(
    start_without_xdg: Callable[[Path], Woollama], tmp_path: Path
):
    start_without_xdg(tmp_path).stop()
    assert private_dir(tmp_path).is_dir()  # kept across runs
    again = start_without_xdg(tmp_path)
    assert again.unix_client().models.list().object == "list"


def _wrong_mode(path: Path) -> str:
    path.mkdir()
    path.chmod(0o755)
    return "mode 0755"


def _other_owner(path: Path) -> str:
    path.mkdir(mode=0o700)
    os.chown(path, NOBODY, NOBODY)  # the suite runs as root here, as CI does
    return f"uid {NOBODY}"


def _symlink(path: Path) -> str:
    target = path.parent / "elsewhere"
    target.mkdir(mode=0o700)
    path.symlink_to(target)
    return "symlink"


def _plain_file(path: Path) -> str:
    path.write_text("")
    return "not a directory"


@pytest.mark.parametrize("plant", [_wrong_mode, _other_owner, _symlink, _plain_file])
def test_a_planted_runtime_dir_is_refused_with_exit_2(tmp_path: Path, plant: Callable[[Path], str]):
    write_config(tmp_path / "config")
    (tmp_path / "tmp").mkdir()
    directory = private_dir(tmp_path)
    reason = plant(directory)
    proc, log_path = spawn(tmp_path, no_xdg_env(tmp_path))
    assert proc.wait(20) == 2
    message = log_path.read_text()
    assert f"refusing to use {directory}" in message
    assert reason in message
    assert "Traceback" not in message
    assert read_line(proc, 1) == ""  # never announced a base_url
    # Nothing was created in (or through) what was planted.
    assert not (tmp_path / "tmp" / "elsewhere" / "woollama.sock").exists()
    assert not (directory / "woollama.sock").exists()
