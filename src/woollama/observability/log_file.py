"""`WOOLLAMA_LOG_FILE`: the same log lines as stderr (access lines included), in a file."""

from __future__ import annotations

import logging
from pathlib import Path

from woollama.observability.access_log import LOG_FORMAT


def log_to_file(path: Path) -> None:
    """Append to `path` (created private to the user, 0600) beside stderr.

    Rotating it is left to the system's tools (logrotate's copytruncate, say): a
    plain file handler keeps the access lines on their cheap batched path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
