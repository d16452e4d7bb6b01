"""`claude-code/<model>` conversations: the CLI keeps the session, resumed by id."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import anyio

from woollama.conversations.backends.base import TurnOutcome
from woollama.conversations.handles import Conversation
from woollama.errors import Unsupported
from woollama.providers.claude_code.provider import ClaudeCodeProvider


class ClaudeResume:
    name = "claude-resume"

    def __init__(self, provider: ClaudeCodeProvider, root: Path):
        self.provider = provider
        self.root = root  # one private working directory per conversation lives here

    async def open(self, model: str) -> dict[str, Any]:
        workdir = self.root / secrets.token_hex(8)
        await anyio.Path(workdir).mkdir(parents=True, mode=0o700)
        return {"workdir": str(workdir)}

    async def turn(self, conv: Conversation, messages: list[dict[str, Any]]) -> TurnOutcome:
        assert conv.workdir is not None
        workdir = Path(conv.workdir)
        # Recreated if missing, e.g. for a conversation imported from the original woollama.
        await anyio.Path(workdir).mkdir(parents=True, exist_ok=True, mode=0o700)
        text, session_id, usage = await self.provider.converse(
            model=conv.model.partition("/")[2],
            messages=messages,
            session_id=conv.native_id,
            workdir=workdir,
        )
        changes = {"native_id": session_id} if session_id else {}
        return TurnOutcome(text, usage=usage, changes=changes)

    async def items(self, conv: Conversation) -> list[dict[str, Any]]:
        raise Unsupported(
            "the claude CLI does not expose a session's transcript; "
            "items are available for managed-agents and store-backed conversations"
        )

    async def close(self, conv: Conversation) -> None:
        if conv.workdir and Path(conv.workdir).is_relative_to(self.root):
            shutil.rmtree(conv.workdir, ignore_errors=True)
