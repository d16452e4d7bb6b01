"""What the handle table stores can always be read back and answered, across restarts.

An update with a value JSON cannot carry used to be written anyway, and from then on
the conversation and the whole listing answered 500 until the row was deleted. Now
such an update is refused with the row untouched, and a row an older version wrote
broken is repaired (logged once) instead of failing every read.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, fake_inferencer
from woollama.conversations.handles import DB_NAME

EXAMPLES = Path(__file__).parents[2] / "examples"


def launch(woollama: Callable[..., Woollama], root: Path, fake: FakeOpenAI) -> Woollama:
    store = {
        "mcpServers": {"threads": {"command": sys.executable,
                                   "args": [str(EXAMPLES / "store_mcp.py"), str(root / "t")]}},
        "conversationStore": "threads",
    }  # fmt: skip
    server = woollama(root=root, mcp=store, inferencers=fake_inferencer(fake))
    server.http().get("/v1/tools", params={"wait": 20})
    return server


def listed_ids(http: httpx2.Client) -> list[str]:
    page = http.get("/v1/conversations", params={"limit": 100})
    assert page.status_code == 200, page.text
    return [conv["id"] for conv in page.json()["data"]]


UNSTORABLE = [
    b'{"metadata": {"topic": NaN}}',
    b'{"metadata": {"topic": Infinity}}',
    b'{"metadata": {"topic": 1e999}}',
    b'{"metadata": {"topic": "\\ud800"}}',
    b'{"metadata": {"\\udfff": "in a key"}}',
]


def test_an_update_that_cannot_be_stored_changes_nothing_and_breaks_nothing(
    woollama, tmp_path: Path, fake_openai: FakeOpenAI
):
    root = tmp_path / "state-root"
    server = launch(woollama, root, fake_openai)
    with server.http() as http:
        created = http.post("/v1/conversations",
                            json={"model": "fake/m", "metadata": {"topic": "kept"}})  # fmt: skip
        assert created.is_success, created.text
        conv_id = created.json()["id"]
        for bad in UNSTORABLE:
            refused = http.post(f"/v1/conversations/{conv_id}", content=bad,
                                headers={"content-type": "application/json"})  # fmt: skip
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["error"]["type"] == "invalid_request_error"
            kept = http.get(f"/v1/conversations/{conv_id}")
            assert kept.status_code == 200, (bad, kept.text)
            assert kept.json()["metadata"] == {"topic": "kept"}
            assert conv_id in listed_ids(http)
    server.stop()

    again = launch(woollama, root, fake_openai)
    with again.http() as http:
        assert conv_id in listed_ids(http)
        retrieved = http.get(f"/v1/conversations/{conv_id}")
        assert retrieved.status_code == 200, retrieved.text
        assert retrieved.json()["metadata"] == {"topic": "kept"}
        updated = http.post(f"/v1/conversations/{conv_id}", json={"metadata": {"topic": "new"}})
        assert updated.status_code == 200, updated.text
        assert updated.json()["metadata"] == {"topic": "new"}


BROKEN = {
    # id: (metadata as an older version wrote it, status, title, required_action)
    "conv_nan": ('{"a": NaN, "b": "ok", "c": [Infinity, 1]}', "idle", "nan", None),
    "conv_surrogate": ('{"a": "\\ud800x", "\\udfff": 1}', "idle", "surrogate", None),
    "conv_garbage": ("not json at all", "idle", "garbage", None),
    "conv_list": ("[1, 2]", "idle", "list", None),
    "conv_status": ("{}", "running", "status", None),
    "conv_action": ("{}", "awaiting_input", "action", '{"q": -Infinity}'),
    "conv_bytes": ("{}", "idle", b"caf\xe9", None),
}


def write_broken_rows(db: Path) -> None:
    """Rows as an older woollama (or another writer) left them, bypassing every check."""
    now = time.time()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for offset, (conv_id, (metadata, status, title, action)) in enumerate(BROKEN.items()):
            conn.execute(
                "INSERT INTO conversations (id, backend, model, native_id, key, status, title, "
                "metadata, workdir, required_action, pending_tool_use_id, created_at, updated_at) "
                "VALUES (?, 'store-backed', 'fake/m', NULL, NULL, ?, CAST(? AS TEXT), ?, NULL, ?, "
                "NULL, ?, ?)",
                (conv_id, status, title, metadata, action, now + offset, now + offset),
            )


def test_rows_an_older_version_stored_broken_are_repaired_not_fatal(
    woollama, tmp_path: Path, fake_openai: FakeOpenAI
):
    root = tmp_path / "state-root"
    first = launch(woollama, root, fake_openai)
    with first.http() as http:
        good = http.post("/v1/conversations", json={"model": "fake/m", "metadata": {"k": "v"}})
        assert good.is_success, good.text
    first.stop()
    write_broken_rows(root / "state" / DB_NAME)

    second = launch(woollama, root, fake_openai)
    with second.http() as http:
        assert set(listed_ids(http)) == {good.json()["id"], *BROKEN}
        got = {conv_id: http.get(f"/v1/conversations/{conv_id}") for conv_id in BROKEN}
    assert all(r.status_code == 200 for r in got.values()), {k: r.text for k, r in got.items()}
    meta = {conv_id: r.json()["metadata"] for conv_id, r in got.items()}
    assert meta["conv_nan"] == {"a": None, "b": "ok", "c": [None, 1]}
    assert meta["conv_surrogate"] == {"a": "\ufffdx", "\ufffd": 1}
    assert meta["conv_garbage"] == {} and meta["conv_list"] == {}
    assert got["conv_status"].json()["status"] == "idle"
    assert got["conv_action"].json()["status"] == "awaiting_input"
    assert got["conv_bytes"].json()["title"] == "caf\ufffd"
    log = second.log()
    for conv_id in ("conv_nan", "conv_surrogate", "conv_garbage", "conv_list", "conv_status",
                    "conv_action"):  # fmt: skip
        assert f"conversation {conv_id} in " in log and "stored broken" in log, conv_id
    second.stop()

    # The repairs were written back: the next process reads clean rows, warns no more.
    third = launch(woollama, root, fake_openai)
    with third.http() as http:
        assert set(listed_ids(http)) == {good.json()["id"], *BROKEN}
        nan = http.get("/v1/conversations/conv_nan").json()["metadata"]
    assert nan == {"a": None, "b": "ok", "c": [None, 1]}
    assert "stored broken" not in third.log()
