"""First-start import of the original woollama's `conversations.json`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from woollama.conversations.handles import Conversation, HandleTable, StateError, Status

log = logging.getLogger(__name__)

LEGACY_FILE = "conversations.json"
_BACKENDS = {"claude-resume", "managed-agents", "store-backed"}


def import_legacy(table: HandleTable, state_dir: Path) -> int:
    """Import the JSON state when the database was just created; the file is left as is.

    A damaged file is reported and skipped: either every conversation is imported
    or none is.
    """
    source = state_dir / LEGACY_FILE
    if not table.created or not source.is_file():
        return 0
    try:
        doc = json.loads(source.read_text("utf-8"))
        convs = [_conversation(item) for item in doc.get("convs", [])]
        known = {c.id for c in convs}
        responses = {
            str(resp): str(conv)
            for resp, conv in (doc.get("resp_to_conv") or {}).items()
            if conv in known
        }
        for conv, raw in zip(convs, doc.get("convs", []), strict=True):
            for resp in raw.get("response_ids") or []:
                responses.setdefault(str(resp), conv.id)
        table.insert_all(convs, responses)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, StateError) as exc:
        log.error("not importing %s: it is damaged (%s); the file is left untouched", source, exc)
        return 0
    log.info("imported %d conversations and %d response ids from %s",
             len(convs), len(responses), source)  # fmt: skip
    return len(convs)


def _conversation(item: dict[str, Any]) -> Conversation:
    backend = item["backend"]
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r} for {item.get('id')!r}")
    status = Status(item.get("status") or "idle")
    if status is Status.BUSY:  # whatever turn it was in died with the old process
        status = Status.IDLE
    return Conversation(
        id=str(item["id"]),
        backend=backend,
        model=str(item["model"]),
        native_id=item.get("native_id"),
        key=item.get("key"),
        status=status,
        title=item.get("title"),
        metadata=dict(item.get("metadata") or {}),
        workdir=item.get("workdir"),
        required_action=item.get("required_action"),
        pending_tool_use_id=item.get("pending_tool_use_id"),
        created_at=float(item.get("created_at") or 0),
        updated_at=float(item.get("updated_at") or 0),
    )
