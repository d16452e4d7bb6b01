"""Live reload through a real woollama: edit the files (or send SIGHUP), watch it follow."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types as mt
from mcp import Client

from tests.fakes.openai_backend import Chunks, FakeOpenAI
from tests.harness import Woollama, fake_inferencer, read_line, start, write_config

HELLO = str(Path(__file__).resolve().parents[2] / "examples" / "hello.py")
DEADLINE = 20.0


def _server(tag: str = "") -> dict:
    return {"command": sys.executable, "args": [HELLO], "env": {"RELOAD_TAG": tag}}


def _recipes(*names: str) -> str:
    return "".join(
        f'[recipes.{n}]\ninferencer = "fake/m"\nsystem = "s"\ntools = ["a.hello"]\n' for n in names
    )


def _children(server: Woollama) -> dict[str, int]:
    """The pid of each hello.py child, keyed by its RELOAD_TAG."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if HELLO.encode() not in argv:
                continue
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            tags = [
                e.decode()[len("RELOAD_TAG=") :] for e in environ if e.startswith(b"RELOAD_TAG=")
            ]
            found[tags[0] if tags else ""] = int(pid)
    return found


def _until(what: str, check: Callable[[], object], server: Woollama) -> object:
    give_up = time.monotonic() + DEADLINE
    while time.monotonic() < give_up:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {DEADLINE}s; log:\n{server.log()[-3000:]}")


def _model_ids(server: Woollama) -> set[str]:
    return {m.id for m in server.client().models.list().data}


def test_a_valid_recipes_edit_applies_and_an_invalid_one_keeps_the_running_config(tmp_path):
    with FakeOpenAI() as fake:
        config = tmp_path / "config"
        write_config(config, inferencers=fake_inferencer(fake), recipes=_recipes("one"),
                     mcp={"mcpServers": {"a": _server("a")}})  # fmt: skip
        server = start(tmp_path)
        try:
            (config / "recipes.toml").write_text(_recipes("one", "two"))
            _until("reloaded", lambda: "woollama/two" in _model_ids(server), server)

            (config / "recipes.toml").write_text(_recipes("one") + "[recipes.bad]\nsystme = 1\n")
            _until("refused", lambda: "config not reloaded" in server.log(), server)
            assert "recipes.toml: recipes.bad" in server.log()
            assert "woollama/two" in _model_ids(server)  # the running config stays
        finally:
            server.stop()


def test_only_a_changed_server_restarts_and_an_unchanged_one_keeps_its_process(tmp_path):
    with FakeOpenAI() as fake:
        config = tmp_path / "config"
        servers = {"a": _server("a"), "b": _server("b")}
        write_config(config, inferencers=fake_inferencer(fake), mcp={"mcpServers": servers})
        server = start(tmp_path)
        try:
            before = _until(
                "both running", lambda: len(_children(server)) == 2 and _children(server), server
            )
            servers["b"] = _server("c")
            write_config(config, mcp={"mcpServers": servers})
            after = _until(
                "b restarted",
                lambda: (
                    "c" in _children(server) and "b" not in _children(server) and _children(server)
                ),
                server,
            )
            assert after["a"] == before["a"]  # a is untouched
            assert after["c"] != before["b"]
        finally:
            server.stop()


def test_a_stream_in_flight_completes_across_an_inferencers_reload(tmp_path):
    with FakeOpenAI() as fake, FakeOpenAI() as other:
        config = tmp_path / "config"
        write_config(config, inferencers=fake_inferencer(fake), mcp={"mcpServers": {}})
        server = start(tmp_path)
        try:
            fake.script(Chunks(20, delay=0.1))
            stream = server.client().chat.completions.create(
                model="fake/m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            pieces = [next(iter(stream))]
            write_config(config, inferencers=fake_inferencer(other))
            _until("reloaded", lambda: "config reloaded" in server.log(), server)
            pieces.extend(stream)
            text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
            assert text == "tok" * 20
            server.client().chat.completions.create(
                model="fake/m", messages=[{"role": "user", "content": "new"}]
            )
            assert other.requests and other.requests[-1].path.endswith("/chat/completions")
        finally:
            server.stop()


def test_sighup_reloads(tmp_path):
    with FakeOpenAI() as fake:
        config = tmp_path / "config"
        write_config(config, inferencers=fake_inferencer(fake), recipes=_recipes("one"),
                     mcp={"mcpServers": {"a": _server("a")}})  # fmt: skip
        server = start(tmp_path)
        try:
            server.proc.send_signal(signal.SIGHUP)
            _until("reloaded on SIGHUP", lambda: "config reload (SIGHUP)" in server.log(), server)
            assert server.proc.poll() is None
        finally:
            server.stop()


async def test_mcp_clients_hear_list_changed_after_a_reload(tmp_path):
    with FakeOpenAI() as fake:
        config = tmp_path / "config"
        write_config(config, inferencers=fake_inferencer(fake), recipes=_recipes("one"),
                     mcp={"mcpServers": {"a": _server("a")}})  # fmt: skip
        server = start(tmp_path)
        tools, prompts = anyio.Event(), anyio.Event()

        async def on_message(message) -> None:
            if isinstance(message, mt.ToolListChangedNotification):
                tools.set()
            if isinstance(message, mt.PromptListChangedNotification):
                prompts.set()

        try:
            with anyio.fail_after(DEADLINE):
                url = f"http://{server.address}/mcp"
                async with Client(url, mode="legacy", message_handler=on_message) as client:
                    await client.list_tools()
                    write_config(config, recipes=_recipes("one", "two"),
                                 mcp={"mcpServers": {"a": _server(), "z": _server()}})  # fmt: skip
                    await tools.wait()
                    await prompts.wait()
                    names = {t.name for t in (await client.list_tools()).tools}
                    listed = {p.name for p in (await client.list_prompts()).prompts}
            assert "z__hello" in names
            assert "two" in listed
        finally:
            server.stop()


def test_start_up_lines_name_each_server_connected_or_failed(tmp_path):
    write_config(tmp_path / "config", mcp={"mcpServers": {
        "hello": _server(), "fs": {"command": "no-such-npx-here", "args": []}}})  # fmt: skip
    server = start(tmp_path)
    try:
        lines = {read_line(server.proc, DEADLINE).strip() for _ in range(2)}
    finally:
        server.stop()
    assert (
        "fs: failed: cannot run 'no-such-npx-here': command not found (No such file or directory)"
        in lines
    )
    [hello] = [line for line in lines if line.startswith("hello:")]
    assert hello.startswith("hello: connected, 3 tools (") and hello.endswith(" s)")
