"""One JSON file per thread: the storage both reference conversation stores share."""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any

_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class ThreadFiles:
    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, thread_id: str) -> Path:
        # Thread ids become file names, so nothing that could walk the tree is accepted.
        if not _ID.fullmatch(thread_id):
            raise ValueError(f"invalid thread id {thread_id!r}")
        return self.directory / f"{thread_id}.json"

    def create(self, thread_id: str | None = None) -> str:
        thread_id = thread_id or f"thread_{secrets.token_hex(8)}"
        path = self._path(thread_id)
        with self._lock:
            if not path.exists():
                self._write(path, [])
        return thread_id

    def get(self, thread_id: str) -> list[dict[str, Any]]:
        path = self._path(thread_id)
        if not path.exists():
            raise KeyError(thread_id)
        return json.loads(path.read_text("utf-8"))

    def append(self, thread_id: str, messages: list[dict[str, Any]]) -> int:
        with self._lock:
            current = self.get(thread_id)
            current.extend(messages)
            self._write(self._path(thread_id), current)
            return len(current)

    def delete(self, thread_id: str) -> None:
        path = self._path(thread_id)
        with self._lock:
            if not path.exists():
                raise KeyError(thread_id)
            path.unlink()

    @staticmethod
    def _write(path: Path, messages: list[dict[str, Any]]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(messages), "utf-8")
        os.replace(tmp, path)  # a crash never leaves half a transcript
