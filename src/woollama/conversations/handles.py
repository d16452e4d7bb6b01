"""The handle table: `conv_…` → backend, model and native id, in SQLite.

woollama keeps no transcripts; the backend named here owns the conversation.
The table survives restarts and crashes: it is WAL-journalled, written in short
transactions, and a conversation left `busy` by a crash is made usable again at
open time instead of staying stuck.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from woollama.errors import Conflict, NotFound, WoollamaError

DB_NAME = "woollama.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    native_id TEXT,
    key TEXT UNIQUE,
    status TEXT NOT NULL,
    title TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    workdir TEXT,
    required_action TEXT,
    pending_tool_use_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS conversations_created ON conversations(created_at, id);
"""


class Status(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    AWAITING_INPUT = "awaiting_input"
    DEAD = "dead"


class StateError(WoollamaError):
    """The state database cannot be opened or used safely."""

    status = 500
    error_type = "state_error"


@dataclass(frozen=True)
class Conversation:
    id: str
    backend: str
    model: str
    native_id: str | None = None
    key: str | None = None
    status: Status = Status.IDLE
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    workdir: str | None = None
    required_action: dict[str, Any] | None = None
    pending_tool_use_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class HandleTable:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        existed = path.exists()
        try:
            if not existed:
                # Create it private before SQLite opens it, so it is never world-readable.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 2000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            # A turn cannot survive the process that ran it.
            self._db.execute("UPDATE conversations SET status = 'idle' WHERE status = 'busy'")
        except sqlite3.Error as exc:
            raise StateError(
                f"cannot use the state database {path}: {exc}. Move it aside to start "
                "afresh (conversations it names would be forgotten), or fix its permissions."
            ) from None
        self.created = not existed
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            try:
                return self._db.execute(sql, args).rowcount
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"conversation conflict: {exc}") from None
            except sqlite3.Error as exc:
                raise StateError(f"state database error: {exc}") from None

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StateError(f"state database error: {exc}") from None

    # -- conversations ---------------------------------------------------------------

    def insert(self, conv: Conversation) -> Conversation:
        now = time.time()
        conv = replace(conv, created_at=conv.created_at or now, updated_at=conv.updated_at or now)
        self._write(
            "INSERT INTO conversations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (conv.id, conv.backend, conv.model, conv.native_id, conv.key, conv.status.value,
             conv.title, json.dumps(conv.metadata), conv.workdir,
             json.dumps(conv.required_action) if conv.required_action is not None else None,
             conv.pending_tool_use_id, conv.created_at, conv.updated_at),
        )  # fmt: skip
        return conv

    def insert_all(self, convs: list[Conversation], responses: dict[str, str]) -> None:
        """Insert many at once: all of them or, on any error, none."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for conv in convs:
                    self._db.execute(
                        "INSERT INTO conversations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (conv.id, conv.backend, conv.model, conv.native_id, conv.key,
                         conv.status.value, conv.title, json.dumps(conv.metadata), conv.workdir,
                         json.dumps(conv.required_action) if conv.required_action else None,
                         conv.pending_tool_use_id, conv.created_at, conv.updated_at),
                    )  # fmt: skip
                for response_id, conv_id in responses.items():
                    self._db.execute("INSERT INTO responses VALUES (?, ?)", (response_id, conv_id))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StateError(f"import failed, nothing imported: {exc}") from None

    def get(self, conv_id: str) -> Conversation:
        rows = self._read("SELECT * FROM conversations WHERE id = ?", (conv_id,))
        if not rows:
            raise NotFound(f"no conversation {conv_id!r}")
        return _conversation(rows[0])

    def by_key(self, key: str) -> Conversation | None:
        rows = self._read("SELECT * FROM conversations WHERE key = ?", (key,))
        return _conversation(rows[0]) if rows else None

    def update(self, conv: Conversation, **changes: Any) -> Conversation:
        updated = replace(conv, **changes, updated_at=time.time())
        self._write(
            "UPDATE conversations SET native_id=?, status=?, title=?, metadata=?, workdir=?, "
            "required_action=?, pending_tool_use_id=?, updated_at=? WHERE id=?",
            (updated.native_id, updated.status.value, updated.title, json.dumps(updated.metadata),
             updated.workdir,
             json.dumps(updated.required_action) if updated.required_action is not None else None,
             updated.pending_tool_use_id, updated.updated_at, updated.id),
        )  # fmt: skip
        return updated

    def claim(self, conv_id: str, *, expect: Status = Status.IDLE) -> bool:
        """Atomically move a conversation from `expect` to busy; False if someone else holds it."""
        return (
            self._write(
                "UPDATE conversations SET status='busy', updated_at=? WHERE id=? AND status=?",
                (time.time(), conv_id, expect.value),
            )
            == 1
        )

    def delete(self, conv_id: str) -> None:
        if self._write("DELETE FROM conversations WHERE id = ?", (conv_id,)) == 0:
            raise NotFound(f"no conversation {conv_id!r}")

    def page(self, *, limit: int, after: str | None, newest_first: bool) -> list[Conversation]:
        order = "DESC" if newest_first else "ASC"
        if after is None:
            rows = self._read(
                f"SELECT * FROM conversations ORDER BY created_at {order}, id {order} LIMIT ?",
                (limit,),
            )
        else:
            anchor = self.get(after)
            op = "<" if newest_first else ">"
            rows = self._read(
                f"SELECT * FROM conversations WHERE (created_at, id) {op} (?, ?) "
                f"ORDER BY created_at {order}, id {order} LIMIT ?",
                (anchor.created_at, anchor.id, limit),
            )
        return [_conversation(row) for row in rows]

    # -- response ids ----------------------------------------------------------------

    def add_response(self, response_id: str, conv_id: str) -> None:
        self._write("INSERT OR REPLACE INTO responses VALUES (?, ?)", (response_id, conv_id))

    def by_response(self, response_id: str) -> Conversation:
        rows = self._read(
            "SELECT c.* FROM conversations c JOIN responses r ON r.conversation_id = c.id "
            "WHERE r.id = ?",
            (response_id,),
        )
        if not rows:
            raise NotFound(f"no stored response {response_id!r}")
        return _conversation(rows[0])


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        backend=row["backend"],
        model=row["model"],
        native_id=row["native_id"],
        key=row["key"],
        status=Status(row["status"]),
        title=row["title"],
        metadata=json.loads(row["metadata"] or "{}"),
        workdir=row["workdir"],
        required_action=json.loads(row["required_action"]) if row["required_action"] else None,
        pending_tool_use_id=row["pending_tool_use_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
