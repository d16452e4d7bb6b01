"""woollama's MCP clients as peers: their log level, and what they answer during a call.

Handshake-era clients set a level with `logging/setLevel`, remembered per session;
2026-07-28 clients opt in per request (`_meta`), which the SDK applies itself. A tool
call (or a `prompts/get`) runs for a `Caller` built here: a downstream server's log
lines, sampling requests, questions and roots requests during the call travel back
to a client that declared it can answer them, on the call's own stream (handshake
era) or as rounds of the call (2026-07-28, rounds.py).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mcp.types as mt
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from woollama.surfaces.mcp.rounds import Parked, Rounds
from woollama.tools.connection import ProgressFn
from woollama.tools.peer import Caller, LacksFn, SamplingAnswer, at_least

Context = ServerRequestContext[Any, Any]
# The downstream request itself, given whom it runs for and where its progress goes.
Work = Callable[[Caller, ProgressFn], Awaitable[Any]]
_M = TypeVar("_M", bound=BaseModel)
# Put a request to the client: (request, result type, the downstream's key or None).
Send = Callable[[Any, type[Any], str | None], Awaitable[Any]]


def missing_capabilities(what: str, name: str, lacking: dict[str, dict[str, Any]]) -> MCPError:
    """The refusal of a 2026-07-28 request that needed what its client did not declare."""
    return MCPError(
        code=mt.MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=f"{what} of {name!r} needs the client capabilities "
        f"{', '.join(sorted(lacking))}, which this client did not declare",
        data={"requiredCapabilities": lacking},
    )


async def ignore_progress(value: float, total: float | None, message: str | None) -> None:
    """Progress of a call whose client asked for none (the SDK sends it nowhere)."""


def _connection(ctx: Context) -> Any:
    # The SDK keeps one Connection per client session; its request proxies share it.
    return getattr(ctx.session, "_connection", ctx.session)


class ClientPeers:
    def __init__(self) -> None:
        # Sessions end without telling anyone; their levels go with them.
        self._levels: weakref.WeakKeyDictionary[Any, mt.LoggingLevel] = weakref.WeakKeyDictionary()
        self.rounds = Rounds()

    async def set_level(self, ctx: Context, params: mt.SetLevelRequestParams) -> mt.EmptyResult:
        self._levels[_connection(ctx)] = params.level
        return mt.EmptyResult()

    def allows(self, ctx: Context, level: mt.LoggingLevel) -> bool:
        """Whether this session asked for lines at `level` (everything until it says)."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return True  # the request's own opt-in, applied by the SDK when sending
        return at_least(level, self._levels.get(_connection(ctx), "debug"))

    async def log(
        self, ctx: Context, level: mt.LoggingLevel, data: Any, logger: str | None = None
    ) -> None:
        """A log line about the request `ctx` answers, on that request's stream."""
        if self.allows(ctx, level):
            await ctx.session.send_log_message(level, data, logger, ctx.request_id)

    async def run(self, ctx: Context, params: Any, work: Work, what: str = "tools/call") -> Any:
        """Run one downstream request (a tool call, or `what`: `prompts/get`) for the client
        of `ctx`; a 2026-07-28 client that can answer questions gets them as
        `InputRequiredResult` rounds (rounds.py)."""
        name = params.name if what == "tools/call" else f"{what}:{params.name}"
        if params.request_state is not None:
            return await self.rounds.resume(ctx, params, name)
        capabilities = ctx.session.client_capabilities or mt.ClientCapabilities()
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        # A 2026-07-28 client is refused what it did not declare (-32021), not served
        # a call that went wrong for want of it.
        lacking: dict[str, dict[str, Any]] = {}

        def lacks(capability: str) -> None:
            lacking[capability] = {}

        async def refusing(caller: Caller, progress: ProgressFn) -> Any:
            result = await work(caller, progress)
            if lacking:
                raise missing_capabilities(what, params.name, lacking)
            return result

        if modern and (capabilities.sampling or capabilities.elicitation or capabilities.roots):
            return await self.rounds.start(
                ctx,
                name,
                lambda progress, parked: refusing(self._parked(parked, lacks), progress),
            )

        async def progress(value: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(value, total, message)

        return await refusing(self.caller(ctx, lacks if modern else None), progress)

    def caller(self, ctx: Context, lacks: LacksFn | None = None) -> Caller:
        """What the client of `ctx` can answer during a call on this one request."""
        # Server-to-client requests ride a handshake-era call's stream; a 2026-07-28
        # request has no such channel (its questions travel in rounds instead).
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return self._caller(ctx, lambda: ctx, None, lacks)
        related = ServerMessageMetadata(related_request_id=ctx.request_id)

        async def send(request: Any, kind: type[_M], key: str | None) -> _M:
            return await ctx.session.send_request(request, kind, metadata=related)

        return self._caller(ctx, lambda: ctx, send, lacks)

    def _parked(self, parked: Parked, lacks: LacksFn | None) -> Caller:
        async def send(request: Any, kind: type[_M], key: str | None) -> _M:
            return await self.rounds.ask(parked, request, kind, key)

        return self._caller(parked.ctx, lambda: parked.ctx, send, lacks)

    def _caller(
        self,
        first: Context,
        current: Callable[[], Context],
        send: Send | None,
        lacks: LacksFn | None,
    ) -> Caller:
        capabilities = first.session.client_capabilities or mt.ClientCapabilities()

        async def log(params: mt.LoggingMessageNotificationParams) -> None:
            await self.log(current(), params.level, params.data, params.logger)

        async def sample(params: mt.CreateMessageRequestParams, key: str | None) -> SamplingAnswer:
            assert send is not None and capabilities.sampling is not None
            if params.tools and capabilities.sampling.tools is None:
                raise LookupError("the calling client cannot sample with tools")
            kind = mt.CreateMessageResultWithTools if params.tools else mt.CreateMessageResult
            return await send(mt.CreateMessageRequest(params=params), kind, key)

        async def elicit(params: mt.ElicitRequestParams, key: str | None) -> mt.ElicitResult:
            assert send is not None
            return await send(mt.ElicitRequest(params=params), mt.ElicitResult, key)

        async def roots(key: str | None) -> mt.ListRootsResult:
            assert send is not None
            return await send(mt.ListRootsRequest(method="roots/list"), mt.ListRootsResult, key)

        can_ask = send is not None
        return Caller(
            client=_connection(first),
            log=log,
            sample=sample if can_ask and capabilities.sampling is not None else None,
            elicit=elicit if can_ask and capabilities.elicitation is not None else None,
            roots=roots if can_ask and capabilities.roots is not None else None,
            lacks=lacks,
        )
