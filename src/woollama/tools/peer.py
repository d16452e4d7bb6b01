"""What a downstream server asks of whoever called it: log lines, sampling, questions, roots.

A surface runs a tool call inside `calling(caller)`, naming what its client can
answer. A server's request reaches that caller by one of two roads: 2026-07-28
servers ask inside the call, so the SDK runs the callback in the caller's task and
`CALLER` is visible; a handshake-era server's request arrives on the connection's
own task, so it goes to the call in flight on that connection (when every call in
flight there belongs to one client; otherwise nobody can tell whose it is). A call
whose own request to its client is still unanswered is blocked on that answer, so
it is left out of that choice: a call parked waiting on a client that never comes
back does not hide the other calls on the connection. A 2026-07-28 caller is told
(`lacks`) when the call needed a capability it did not declare, to be refused with
MissingRequiredClientCapability rather than served a call that failed for want of it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, get_args

import mcp.types as mt
from mcp import MCPError

from woollama.config.models import SamplingConfig

log = logging.getLogger(__name__)

SamplingAnswer = mt.CreateMessageResult | mt.CreateMessageResultWithTools
LogFn = Callable[[mt.LoggingMessageNotificationParams], Awaitable[None]]
# The second argument is the downstream's own name for its request, where it gave one
# (a 2026-07-28 server's input-request key), so that a client sees the server's key.
SampleFn = Callable[[mt.CreateMessageRequestParams, str | None], Awaitable[SamplingAnswer]]
ElicitFn = Callable[[mt.ElicitRequestParams, str | None], Awaitable[mt.ElicitResult]]
RootsFn = Callable[[str | None], Awaitable[mt.ListRootsResult]]
# A caller that must be told it lacks a capability the call needed (by its name).
LacksFn = Callable[[str], None]
# woollama answering a sampling request itself: (configured model, request) -> answer.
# The router provides it (routing/sampling.py); tools/ cannot reach the providers' routing.
Sampler = Callable[[str, mt.CreateMessageRequestParams], Awaitable[SamplingAnswer]]

LEVELS: tuple[mt.LoggingLevel, ...] = get_args(mt.LoggingLevel)  # ascending severity
_PYTHON_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}


def at_least(level: mt.LoggingLevel, threshold: mt.LoggingLevel) -> bool:
    return LEVELS.index(level) >= LEVELS.index(threshold)


@dataclass(frozen=True, eq=False)
class Caller:
    """The client a tool call runs for, and what it can answer (None: it cannot)."""

    client: object  # the calling client's session; its concurrent calls share it
    log: LogFn | None = None
    sample: SampleFn | None = None
    elicit: ElicitFn | None = None
    roots: RootsFn | None = None
    # Set for callers that must be refused with MissingRequiredClientCapability (a
    # 2026-07-28 client) when the call needs what they did not declare.
    lacks: LacksFn | None = None


@dataclass(eq=False)
class _InFlight:
    """One tool call on a connection, and how many of its requests await an answer."""

    caller: Caller
    asking: int = 0


CALLER: ContextVar[Caller | None] = ContextVar("woollama_caller", default=None)
_NOBODY = object()  # the client of calls that no MCP client made


@contextmanager
def calling(caller: Caller) -> Iterator[None]:
    """Run the tool calls made inside the block on behalf of `caller`."""
    token = CALLER.set(caller)
    try:
        yield
    finally:
        CALLER.reset(token)


class PeerDesk:
    """One downstream connection's side of it: the callbacks its `Client` is given."""

    def __init__(
        self,
        server: str,
        sampling: SamplingConfig | None,
        sampler: Callable[[], Sampler | None] = lambda: None,
    ):
        self.server = server
        self.sampling = sampling
        self._sampler = sampler
        self._in_flight: list[_InFlight] = []

    @contextmanager
    def call(self) -> Iterator[None]:
        """Around one tool call on this connection: its caller is the one in flight."""
        # A call nobody can answer for (a recipe run from the OpenAI surface) still
        # counts, so that a request in its time is never taken for another caller's.
        entry = _InFlight(CALLER.get() or Caller(client=_NOBODY))
        self._in_flight.append(entry)
        try:
            yield
        finally:
            self._in_flight.remove(entry)

    def caller(self) -> Caller | None:
        """Whom a request from this server is for, if that can be known."""
        return self._pick()[0]

    def _pick(self) -> tuple[Caller | None, _InFlight | None]:
        caller = CALLER.get()
        if caller is not None:
            return caller, next((c for c in self._in_flight if c.caller is caller), None)
        # A call waiting for its client's answer is not the one speaking now; only
        # when every call is waiting (a server asking twice at once) do they count.
        live = [c for c in self._in_flight if not c.asking] or self._in_flight
        clients = {id(c.caller.client) for c in live}
        return (live[-1].caller, live[-1]) if len(clients) == 1 else (None, None)

    @asynccontextmanager
    async def _asking(self, entry: _InFlight | None) -> AsyncIterator[None]:
        if entry is not None:
            entry.asking += 1
        try:
            yield
        finally:
            if entry is not None:
                entry.asking -= 1

    # -- the Client callbacks --------------------------------------------------------

    async def on_log(self, params: mt.LoggingMessageNotificationParams) -> None:
        caller = self.caller()
        logger = f"{self.server}.{params.logger}" if params.logger else self.server
        if caller is not None and caller.log is not None:
            relayed = mt.LoggingMessageNotificationParams(
                level=params.level, logger=logger, data=params.data
            )
            try:
                await caller.log(relayed)
                return
            except Exception as exc:  # the caller went away: its log line is still kept
                log.debug("could not relay a log line of %s: %s", self.server, exc)
        log.log(_PYTHON_LEVELS.get(params.level, logging.INFO), "MCP server %s [%s]: %s",
                logger, params.level, params.data)  # fmt: skip

    async def on_sample(
        self, context: Any, params: mt.CreateMessageRequestParams
    ) -> SamplingAnswer | mt.ErrorData:
        caller, entry = self._pick()
        if caller is not None and caller.sample is not None:
            try:
                async with self._asking(entry):
                    return await caller.sample(params, _key(context))
            except MCPError as exc:
                return exc.error
            except Exception as exc:  # no back channel after all: try woollama's own
                log.info("could not pass a sampling request of %s on: %s", self.server, exc)
        sampler = self._sampler()
        if self.sampling is not None and sampler is not None:
            try:
                return await sampler(self.sampling.model, params)
            except Exception as exc:  # reported to the server that asked, not raised here
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                return mt.ErrorData(
                    code=mt.INTERNAL_ERROR,
                    message=f"woollama could not sample with {self.sampling.model!r}: {message}",
                )
        if caller is not None and caller.lacks is not None:
            caller.lacks("sampling")
            return mt.ErrorData(
                code=mt.MISSING_REQUIRED_CLIENT_CAPABILITY,
                message="the calling MCP client did not declare the sampling capability",
                data={"requiredCapabilities": {"sampling": {}}},
            )
        if caller is None:
            why = "no single MCP client is calling this server's tools now"
        elif caller.client is _NOBODY:
            why = "the tool was not called by an MCP client (e.g. a recipe)"
        else:
            why = "the calling MCP client did not declare the sampling capability"
        return mt.ErrorData(
            code=mt.INVALID_REQUEST,
            message=(
                f"woollama cannot answer sampling/createMessage from MCP server {self.server!r}: "
                f"{why}. To let woollama answer with one of its own models, add "
                '"sampling": {"model": "<provider>/<model>"} to this server\'s entry in mcp.json.'
            ),
        )

    async def on_roots(self, context: Any) -> mt.ListRootsResult | mt.ErrorData:
        caller, entry = self._pick()
        if caller is not None and caller.roots is not None:
            try:
                async with self._asking(entry):
                    return await caller.roots(_key(context))
            except Exception as exc:  # the caller cannot be asked after all
                log.info("could not pass a roots/list of %s on: %s", self.server, exc)
        if caller is not None and caller.lacks is not None and caller.roots is None:
            caller.lacks("roots")
            return mt.ErrorData(
                code=mt.MISSING_REQUIRED_CLIENT_CAPABILITY,
                message="the calling MCP client did not declare the roots capability",
                data={"requiredCapabilities": {"roots": {}}},
            )
        # Outside any call (a server asking at start-up) there is nobody to ask.
        return mt.ErrorData(
            code=mt.INVALID_REQUEST,
            message="woollama has no MCP client to list roots for this server now",
        )

    async def on_elicit(
        self, context: Any, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        caller, entry = self._pick()
        if caller is None or caller.elicit is None:
            return mt.ElicitResult(action="decline")
        try:
            async with self._asking(entry):
                return await caller.elicit(params, _key(context))
        except Exception as exc:  # the caller cannot be asked after all (e.g. no back channel)
            log.info("declined a question of %s: %s", self.server, exc)
            return mt.ElicitResult(action="decline")


def _key(context: Any) -> str | None:
    """The downstream's own key for its request: only a 2026-07-28 server's rounds have
    one (asked inside the call, where `CALLER` is visible); a handshake-era request's
    id names nothing the client should see."""
    key = getattr(context, "request_id", None)
    return key if isinstance(key, str) and CALLER.get() is not None else None
