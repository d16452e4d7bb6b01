"""The handle table: `conv_…` → backend, model and native id, in SQLite.

woollama keeps no transcripts; the backend named here owns the conversation.
The table survives restarts and crashes: it is WAL-journalled, written in short
transactions, and a conversation left `busy` by a crash is made usable again at
open time instead of staying stuck.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from woollama.conversations.columns import (
    check_text,
    decode_json,
    encode_json,
    lenient_text,
    repaired,
)
from woollama.errors import Conflict, NotFound, WoollamaError

log = logging.getLogger(__name__)

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
            self._db.text_factory = lenient_text
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

    @staticmethod
    def check(conv: Conversation) -> None:
        """A 400 for a value that could not be stored and read back; nothing is written."""
        _columns(conv)

    def insert(self, conv: Conversation) -> Conversation:
        now = time.time()
        conv = replace(conv, created_at=conv.created_at or now, updated_at=conv.updated_at or now)
        self._write("INSERT INTO conversations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", _columns(conv))
        return conv

    def insert_all(self, convs: list[Conversation], responses: dict[str, str]) -> None:
        """Insert many at once: all of them or, on any error, none."""
        convs = [_storable(conv) for conv in convs]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for conv in convs:
                    self._db.execute(
                        "INSERT INTO conversations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        _columns(conv),
                    )
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
        return self._conversation(rows[0])

    def by_key(self, key: str) -> Conversation | None:
        rows = self._read("SELECT * FROM conversations WHERE key = ?", (key,))
        return self._conversation(rows[0]) if rows else None

    def update(self, conv: Conversation, **changes: Any) -> Conversation:
        updated = replace(conv, **changes, updated_at=time.time())
        (_, _, _, native_id, _, status, title, metadata, workdir, required_action,
         pending, _, updated_at) = _columns(updated)  # fmt: skip
        self._write(
            "UPDATE conversations SET native_id=?, status=?, title=?, metadata=?, workdir=?, "
            "required_action=?, pending_tool_use_id=?, updated_at=? WHERE id=?",
            (native_id, status, title, metadata, workdir, required_action, pending, updated_at,
             updated.id),
        )  # fmt: skip
        return updated

    def set_metadata(self, conv_id: str, metadata: dict[str, Any]) -> Conversation:
        """Replace a conversation's metadata: checked first, then one statement, so a
        value that cannot be stored leaves the row as it was."""
        text = encode_json(metadata, "metadata")
        with self._lock:
            try:
                rows = self._db.execute(
                    "UPDATE conversations SET metadata=?, updated_at=? WHERE id=? RETURNING *",
                    (text, time.time(), conv_id),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StateError(f"state database error: {exc}") from None
        if not rows:
            raise NotFound(f"no conversation {conv_id!r}")
        return self._conversation(rows[0])

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
        return [self._conversation(row) for row in rows]

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
        return self._conversation(rows[0])

    def _conversation(self, row: sqlite3.Row) -> Conversation:
        """A row as a Conversation; one an older version wrote with values no response
        can carry is repaired (on disk too, so the warning is logged once)."""
        metadata, bad_metadata = decode_json(row["metadata"], {})
        if not isinstance(metadata, dict):
            metadata, bad_metadata = {}, "not a JSON object"
        required_action, bad_action = decode_json(row["required_action"], None)
        if required_action is not None and not isinstance(required_action, dict):
            required_action, bad_action = None, "not a JSON object"
        try:
            status, bad_status = Status(row["status"]), None
        except ValueError:
            status, bad_status = Status.IDLE, f"unknown status {row['status']!r}"
        conv = Conversation(
            id=row["id"],
            backend=_text(row["backend"]),
            model=_text(row["model"]),
            native_id=_text(row["native_id"]),
            key=_text(row["key"]),
            status=status,
            title=_text(row["title"]),
            metadata=metadata,
            workdir=_text(row["workdir"]),
            required_action=required_action,
            pending_tool_use_id=_text(row["pending_tool_use_id"]),
            created_at=_number(row["created_at"]),
            updated_at=_number(row["updated_at"]),
        )
        problems = {"metadata": bad_metadata, "required_action": bad_action, "status": bad_status}
        if any(problems.values()):
            found = "; ".join(f"{k}: {v}" for k, v in problems.items() if v)
            log.warning("conversation %s in %s was stored broken (%s); repaired", conv.id,
                        self.path, found)  # fmt: skip
            self._repair(conv, [name for name, problem in problems.items() if problem])
        return conv

    def _repair(self, conv: Conversation, columns: list[str]) -> None:
        # Only the broken columns: the others may have moved on since the row was read.
        values = {
            "metadata": lambda: encode_json(conv.metadata, "metadata"),
            "required_action": lambda: _optional_json(conv.required_action),
            "status": lambda: conv.status.value,
        }
        assignments = ", ".join(f"{name}=?" for name in columns)
        try:
            self._write(
                f"UPDATE conversations SET {assignments} WHERE id=?",
                (*(values[name]() for name in columns), conv.id),
            )
        except WoollamaError as exc:  # read-only, say: it is repaired again on every read
            log.warning("could not write the repair of %s back: %s", conv.id, exc.message)


_TEXT_FIELDS = ("model", "native_id", "key", "title", "workdir", "pending_tool_use_id")


def _columns(conv: Conversation) -> tuple[Any, ...]:
    """A conversation as its row's values, in column order; a value that could not be
    read back as valid JSON or UTF-8 is a 400 before anything is written."""
    for name in _TEXT_FIELDS:
        check_text(getattr(conv, name), name)
    return (conv.id, conv.backend, conv.model, conv.native_id, conv.key, conv.status.value,
            conv.title, encode_json(conv.metadata, "metadata"), conv.workdir,
            _optional_json(conv.required_action), conv.pending_tool_use_id, conv.created_at,
            conv.updated_at)  # fmt: skip


def _storable(conv: Conversation) -> Conversation:
    """An imported conversation with what cannot be stored repaired, not refused: old
    state is kept as far as it can be."""
    metadata, bad_metadata = repaired(conv.metadata, {})
    action, bad_action = repaired(conv.required_action, None)
    texts: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        value = getattr(conv, name)
        if value is not None:
            texts[name] = str(repaired(value, None)[0])
    fixed = replace(conv, metadata=metadata, required_action=action, **texts)
    if bad_metadata or bad_action or fixed != conv:
        log.warning("conversation %s: values that cannot be stored were repaired", conv.id)
    return fixed


def _optional_json(value: Any) -> str | None:
    return None if value is None else encode_json(value, "required_action")


def _text(value: Any) -> Any:
    # SQLite keeps whatever type was written: a blob in a text column comes back as bytes.
    return lenient_text(value) if isinstance(value, bytes) else value


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
