"""Downstream questions for a 2026-07-28 client: a tool call answered over several rounds.

A 2026-07-28 call has no channel for server-to-client requests; the server answers
`InputRequiredResult` instead and the client retries the call with its answers and
the `requestState` it was given. woollama's downstream call cannot be restarted (the
server is waiting mid-call for its answer), so it runs on in a task of its own, parked
under an unguessable state token (a new one each round), and each retry hands the
answers to it and waits for what comes next: another question, or the result. The
downstream's own keys for its questions are kept where it named them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import mcp.types as mt
from mcp import MCPError
from pydantic import BaseModel

from woollama.tools.connection import ProgressFn

Context = Any  # a ServerRequestContext: the round being answered
Work = Callable[[ProgressFn, "Parked"], Awaitable[mt.CallToolResult]]
_M = TypeVar("_M", bound=BaseModel)

# How long a parked call waits for its client's next round before giving up on it.
ROUND_WAIT = 300.0


@dataclass(eq=False)
class Parked:
    """One tool call in flight across rounds."""

    name: str
    ctx: Context
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    task: asyncio.Task[mt.CallToolResult] | None = None
    asked: asyncio.Queue[tuple[str, mt.InputRequest]] = field(default_factory=asyncio.Queue)
    waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    count: int = 0


class Rounds:
    def __init__(self) -> None:
        self._parked: dict[str, Parked] = {}

    async def start(self, ctx: Context, name: str, work: Work) -> mt.CallToolResult | Any:
        parked = Parked(name, ctx)

        async def progress(value: float, total: float | None, message: str | None) -> None:
            await parked.ctx.session.report_progress(value, total, message)

        self._parked[parked.token] = parked
        parked.task = asyncio.get_running_loop().create_task(work(progress, parked))
        return await self._next(parked)

    async def resume(self, ctx: Context, params: Any, name: str) -> Any:
        """The client's next round of the request `name` (a tool's, or `prompts/get:<name>`)."""
        parked = self._parked.get(params.request_state or "")
        if parked is None or parked.name != name:
            raise MCPError(
                code=mt.INVALID_PARAMS,
                message="requestState is unknown or expired; send the request again without it",
            )
        parked.ctx = ctx
        answers = params.input_responses or {}
        for key, future in list(parked.waiting.items()):
            if future.done():
                continue
            if key in answers:
                future.set_result(answers[key])
            else:
                future.set_exception(LookupError(f"the client gave no answer to {key!r}"))
        return await self._next(parked)

    async def ask(
        self, parked: Parked, request: mt.InputRequest, kind: type[_M], key: str | None = None
    ) -> _M:
        """Put a downstream question to the client in the next round; wait for its answer.

        The downstream's own key is kept where it gave one (a 2026-07-28 server); a
        2025-era request, or a key already waiting, gets one of woollama's.
        """
        while key is None or key in parked.waiting:
            parked.count += 1
            key = f"q{parked.count}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        parked.waiting[key] = future
        parked.asked.put_nowait((key, request))
        try:
            answer = await asyncio.wait_for(future, ROUND_WAIT)
        except TimeoutError:
            # The client never came back: the call is abandoned with it.
            self._drop(parked)
            raise
        finally:
            parked.waiting.pop(key, None)
        return kind.model_validate(answer.model_dump(by_alias=True, mode="json", exclude_none=True))

    async def _next(self, parked: Parked) -> Any:
        assert parked.task is not None
        getter = asyncio.ensure_future(parked.asked.get())
        try:
            done, _ = await asyncio.wait({parked.task, getter}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            getter.cancel()
            self._drop(parked)  # the client cancelled the call: so does woollama, downstream
            raise
        if parked.task in done:
            getter.cancel()
            self._parked.pop(parked.token, None)
            return parked.task.result()
        questions = dict([getter.result()])
        while not parked.asked.empty():  # questions asked together go out together
            key, request = parked.asked.get_nowait()
            questions[key] = request
        # A fresh state each round: an answer given for an earlier round cannot be replayed.
        self._parked.pop(parked.token, None)
        parked.token = secrets.token_urlsafe(32)
        self._parked[parked.token] = parked
        return mt.InputRequiredResult(input_requests=questions, request_state=parked.token)

    def _drop(self, parked: Parked) -> None:
        self._parked.pop(parked.token, None)
        if parked.task is not None:
            parked.task.cancel()
