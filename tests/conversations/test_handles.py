from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from woollama.conversations import Conversation, HandleTable, Status
from woollama.conversations.handles import DB_NAME, StateError, new_id
from woollama.conversations.legacy_import import import_legacy
from woollama.errors import Conflict, NotFound


def conv(**fields) -> Conversation:
    base = {"id": new_id("conv"), "backend": "store-backed", "model": "fake/m"}
    return Conversation(**{**base, **fields})


def test_database_is_private_and_survives_reopening(tmp_path: Path):
    path = tmp_path / "state" / DB_NAME
    table = HandleTable(path)
    saved = table.insert(conv(key="k1", metadata={"a": 1}))
    table.add_response("resp_1", saved.id)
    table.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = HandleTable(path)
    assert again.by_key("k1") == saved
    assert again.by_response("resp_1").id == saved.id
    assert again.created is False


def test_a_turn_left_busy_by_a_crash_is_usable_after_reopening(tmp_path: Path):
    path = tmp_path / DB_NAME
    table = HandleTable(path)
    saved = table.insert(conv())
    assert table.claim(saved.id)
    assert not table.claim(saved.id)  # one turn at a time
    table.close()  # the process "dies" mid-turn
    assert HandleTable(path).get(saved.id).status is Status.IDLE


def test_keys_are_unique(tmp_path: Path):
    table = HandleTable(tmp_path / DB_NAME)
    table.insert(conv(key="same"))
    with pytest.raises(Conflict):
        table.insert(conv(key="same"))


def test_paging_is_stable_in_both_orders(tmp_path: Path):
    table = HandleTable(tmp_path / DB_NAME)
    stamps = [float(i + 1) for i in range(5)]
    ids = [table.insert(conv(created_at=t, updated_at=t)).id for t in stamps]
    first = table.page(limit=2, after=None, newest_first=False)
    second = table.page(limit=2, after=first[-1].id, newest_first=False)
    third = table.page(limit=2, after=second[-1].id, newest_first=False)
    assert [c.id for c in first + second + third] == ids
    newest = table.page(limit=3, after=None, newest_first=True)
    assert [c.id for c in newest] == ids[::-1][:3]


def test_delete_forgets_the_conversation_and_its_responses(tmp_path: Path):
    table = HandleTable(tmp_path / DB_NAME)
    saved = table.insert(conv())
    table.add_response("resp_x", saved.id)
    table.delete(saved.id)
    with pytest.raises(NotFound):
        table.get(saved.id)
    with pytest.raises(NotFound):
        table.by_response("resp_x")


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / DB_NAME
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as info:
        HandleTable(path)
    assert str(path) in info.value.message


LEGACY = {
    "convs": [
        {"id": "conv_a", "backend": "claude-resume", "model": "claude-code/haiku",
         "native_id": "sess-1", "key": "chat-1", "workdir": "/tmp/w", "response_ids": ["resp_a1"],
         "status": "busy", "title": "first", "metadata": {"x": "y"}, "created_at": 100,
         "updated_at": 200, "required_action": None, "pending_tool_use_id": None},
        {"id": "conv_b", "backend": "store-backed", "model": "ollama/qwen3",
         "native_id": "thread-9", "key": None, "workdir": None, "response_ids": [],
         "status": "idle", "title": None, "metadata": {}, "created_at": 101, "updated_at": 101},
    ],
    "resp_to_conv": {"resp_a1": "conv_a", "resp_b1": "conv_b"},
}  # fmt: skip


def test_legacy_state_is_imported_once_and_left_untouched(tmp_path: Path):
    source = tmp_path / "conversations.json"
    source.write_text(json.dumps(LEGACY))
    before = source.read_bytes()
    table = HandleTable(tmp_path / DB_NAME)
    assert import_legacy(table, tmp_path) == 2
    a = table.get("conv_a")
    assert (a.backend, a.native_id, a.key, a.status) == ("claude-resume", "sess-1", "chat-1",
                                                         Status.IDLE)  # fmt: skip
    assert table.by_response("resp_b1").id == "conv_b"
    assert table.by_key("chat-1").id == "conv_a"
    assert source.read_bytes() == before
    table.close()
    assert import_legacy(HandleTable(tmp_path / DB_NAME), tmp_path) == 0  # not twice


@pytest.mark.parametrize(
    "damage",
    [
        "{not json",
        json.dumps({"convs": [{"id": "c", "backend": "martian", "model": "m"}]}),
        json.dumps({"convs": [LEGACY["convs"][0], {"backend": "store-backed"}]}),
    ],
)
def test_a_damaged_legacy_file_is_skipped_whole(tmp_path: Path, damage: str):
    (tmp_path / "conversations.json").write_text(damage)
    table = HandleTable(tmp_path / DB_NAME)
    assert import_legacy(table, tmp_path) == 0
    assert table.page(limit=10, after=None, newest_first=False) == []
