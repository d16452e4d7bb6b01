"""Live reload: a changed config is validated, then swapped in for new requests.

The three files are watched (and SIGHUP asks too). A config that fails to load or
that `check` finds errors in is not applied: the running one stays and its problems
are kept in `LiveRouter.problems` until a later version of the files is fine. A valid
one becomes a new `Router` sharing the registry: only MCP servers whose entries
changed are restarted, providers are rebuilt only when `inferencers.toml`'s
providers changed, and the old ones are closed once the requests pinned to them end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus
from watchfiles import awatch

from woollama.config.check import check
from woollama.config.loader import load_config
from woollama.config.models import Config
from woollama.config.paths import config_dir
from woollama.conversations.backends.store_backed import StoreBacked
from woollama.errors import ConfigError
from woollama.providers import Provider
from woollama.routing.lifespan import make_providers, open_router
from woollama.routing.pool import Gate
from woollama.routing.router import CLAUDE_CODE, Router
from woollama.routing.sampling import sampler

log = logging.getLogger(__name__)

CONFIG_FILES = ("mcp.json", "recipes.toml", "inferencers.toml")
# Requests still streaming from replaced providers get this long before those close.
RETIRE_GRACE = 600.0
# Editors write a file in several steps; changes this close together are one reload.
WATCH_STEP_MS = 50
WATCH_DEBOUNCE_MS = 500
MISSING_DIR_POLL = 2.0

SwapListener = Callable[[Router, Router], None]


@dataclass(eq=False)
class _Backends:
    """One set of provider clients and the requests in flight on it."""

    providers: dict[str, Provider]
    gates: list[Gate]
    owned: bool  # built by a reload (the start-up set is closed by open_router)
    in_flight: int = 0
    retired: bool = False
    drained: anyio.Event = field(default_factory=anyio.Event)


class LiveRouter:
    """The router new requests get, replaced whole when the config files change."""

    def __init__(self, router: Router, directory: Path | None = None):
        self.directory = directory if directory is not None else config_dir()
        self._router = router
        self._backends = _Backends(router.providers, [], owned=False)
        # What is wrong with the running config (or the last one refused), "file: key:
        # message" each; empty when it is fine.
        self.problems: list[str] = _errors(router.config)
        self.reloads = 0
        self._listeners: list[SwapListener] = []
        self._lock = anyio.Lock()
        self._wanted = anyio.Event()
        self._triggers: list[str] = []
        self._group: TaskGroup | None = None
        self._retiring: list[_Backends] = []

    @property
    def router(self) -> Router:
        return self._router

    def current(self) -> Router:
        return self._router

    def on_swap(self, listener: SwapListener) -> None:
        """Call `listener(before, after)` each time a new router is applied."""
        self._listeners.append(listener)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Router]:
        """Hold the current providers open for as long as the block runs."""
        backends = self._backends
        backends.in_flight += 1
        try:
            yield self._router
        finally:
            backends.in_flight -= 1
            if backends.retired and not backends.in_flight:
                backends.drained.set()

    def request(self, trigger: str) -> None:
        """Ask for a reload; requests made while one runs are served by one more."""
        self._triggers.append(trigger)
        self._wanted.set()

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Watch the files and SIGHUP and reload on each, until cancelled."""
        async with anyio.create_task_group() as tg:
            self._group = tg
            await tg.start(self._on_sighup)
            tg.start_soon(self._watch_files)
            task_status.started()
            while True:
                await self._wanted.wait()
                self._wanted = anyio.Event()
                triggers, self._triggers = self._triggers, []
                await self.reload(", ".join(dict.fromkeys(triggers)))

    async def _on_sighup(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = False
        try:
            with anyio.open_signal_receiver(signal.SIGHUP) as signals:
                task_status.started()
                started = True
                async for _ in signals:
                    self.request("SIGHUP")
        except (ValueError, RuntimeError, NotImplementedError) as exc:  # not the main thread
            log.debug("no reload on SIGHUP here: %s", exc)
            if not started:
                task_status.started()

    async def _watch_files(self) -> None:
        names = set(CONFIG_FILES)
        while True:
            if not self.directory.is_dir():  # no user config yet: look again later
                await anyio.sleep(MISSING_DIR_POLL)
                continue
            try:
                async for changes in awatch(
                    self.directory,
                    watch_filter=lambda _change, path: Path(path).name in names,
                    debounce=WATCH_DEBOUNCE_MS,
                    step=WATCH_STEP_MS,
                    recursive=False,
                ):
                    changed = sorted({Path(path).name for _, path in changes})
                    self.request(f"{', '.join(changed)} changed")
            except (OSError, RuntimeError) as exc:  # the directory went away, say
                log.info("watching %s stopped (%s); will watch again", self.directory, exc)
            await anyio.sleep(MISSING_DIR_POLL)

    # -- one reload ----------------------------------------------------------------

    async def reload(self, trigger: str = "request") -> bool:
        """Load, validate and apply the files; False when they were refused."""
        async with self._lock:
            return await self._reload(trigger)

    async def _reload(self, trigger: str) -> bool:
        before = self._router
        try:
            config = load_config(self.directory)
        except ConfigError as exc:
            return self._refuse(trigger, str(exc).splitlines())
        if errors := _errors(config):
            return self._refuse(trigger, errors)
        if config == before.config:
            self.problems.clear()
            log.info("config reload (%s): nothing changed", trigger)
            return True
        backends = self._backends
        if _providers_changed(before.config, config):
            try:
                providers, gates = make_providers(config)
            except ConfigError as exc:
                return self._refuse(trigger, str(exc).splitlines())
            if (
                CLAUDE_CODE not in config.inferencers
                and CLAUDE_CODE not in before.config.inferencers
            ):
                # The CLI provider has no settings; conversations resumed on it keep it.
                providers[CLAUDE_CODE] = before.providers[CLAUDE_CODE]
            backends = _Backends(providers, gates, owned=True)
        after = dataclasses.replace(before, config=config, providers=backends.providers)
        started, stopped = await before.registry.reconcile(config.mcp.servers)
        self._swap(after, backends)
        self.problems.clear()
        self.reloads += 1
        log.info("config reloaded (%s): %s", trigger,
                 _summary(before.config, config, started, stopped, backends))  # fmt: skip
        return True

    def _refuse(self, trigger: str, errors: list[str]) -> bool:
        self.problems[:] = [e for e in errors if e.strip()]
        for error in self.problems:
            log.error("config not reloaded (%s), the running one stays: %s", trigger, error)
        return False

    def _swap(self, after: Router, backends: _Backends) -> None:
        before, old = self._router, self._backends
        self._router, self._backends = after, backends
        store = after.conversations.backends.get("store-backed")
        if isinstance(store, StoreBacked):
            store.runner = after.runner  # store-backed turns run the recipes as they are now
        if before.config.mcp.conversation_store != after.config.mcp.conversation_store:
            log.warning("mcp.json: conversationStore changed; it applies after a restart")
        if old is not backends:
            old.retired = True
            if not old.in_flight:
                old.drained.set()
            self._retiring.append(old)
            assert self._group is not None
            self._group.start_soon(self._retire, old)
        for listener in self._listeners:
            try:
                listener(before, after)
            except Exception:  # one listener failing must not stop the others
                log.exception("a reload listener failed")

    async def _retire(self, old: _Backends) -> None:
        with anyio.move_on_after(RETIRE_GRACE):
            await old.drained.wait()
        await self._close(old)

    async def _close(self, old: _Backends) -> None:
        if old in self._retiring:
            self._retiring.remove(old)
        keep = {id(p) for p in self._backends.providers.values()}
        closers = [p.aclose() for p in old.providers.values() if id(p) not in keep]
        closers.extend(gate.aclose() for gate in old.gates)
        for closer in closers:
            try:
                await closer
            except Exception as exc:  # closing a client must not fail the reload task
                log.debug("closing a replaced provider: %s", exc)

    async def aclose(self) -> None:
        """Close what reloads built; open_router closes the start-up set itself."""
        for old in list(self._retiring):
            await self._close(old)
        if self._backends.owned:
            current, self._backends = self._backends, _Backends({}, [], owned=False)
            await self._close(current)


@contextlib.asynccontextmanager
async def open_live_router(
    config: Config, directory: Path | None = None
) -> AsyncIterator[LiveRouter]:
    """`open_router`, kept current with the config files until the block ends."""
    async with open_router(config) as router:
        live = LiveRouter(router, directory)
        router.registry.sampler = sampler(live.current)  # the registry outlives reloads
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(live.run)
                yield live
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await live.aclose()


def _errors(config: Config) -> list[str]:
    return [str(p) for p in check(config) if p.severity == "error"]


def _providers_changed(before: Config, after: Config) -> bool:
    return (
        before.inferencers != after.inferencers
        or before.management_protocols != after.management_protocols
    )


def _summary(
    before: Config, after: Config, started: set[str], stopped: set[str], backends: _Backends
) -> str:
    parts = []
    restarted = started & stopped
    for label, names in (("restarted", restarted), ("started", started - restarted),
                         ("stopped", stopped - restarted)):  # fmt: skip
        if names:
            parts.append(f"MCP servers {label}: {', '.join(sorted(names))}")
    if before.recipes != after.recipes:
        parts.append(f"recipes: {', '.join(after.recipes) or 'none'}")
    if _providers_changed(before, after):
        parts.append(f"providers rebuilt: {', '.join(backends.providers)}")
    if before.aliases != after.aliases:
        parts.append("aliases changed")
    return "; ".join(parts) or "no change that affects routing"
