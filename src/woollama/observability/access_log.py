"""The access line: one per request and one per MCP tool call, names and numbers only.

Lines go where woollama's log goes (stderr, and `WOOLLAMA_LOG_FILE`), collected for a
moment and written together: one write per handler per batch instead of one per
request, which is most of what a line would otherwise cost the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time

from woollama.observability.record import AccessRecord

log = logging.getLogger("woollama.access")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # what the CLI configures
FLUSH_AFTER = 0.05  # seconds a line may wait for others to join it
MAX_BATCH = 256


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def access_line(record: AccessRecord) -> str:
    parts = [
        record.method,
        record.path,
        f"surface={record.surface or '-'}",
        f"model={record.model or '-'}",
        f"provider={record.provider or '-'}",
        f"status={record.status}",
        f"origin={record.origin or 'local'}",
        f"total_ms={_ms(record.total)}",
        f"upstream_ms={_ms(record.upstream_total)}",
        f"overhead_ms={_ms(record.overhead)}",
        f"bytes={record.bytes_out}",
    ]
    if record.turns:
        parts.append(f"turns={record.turns}")
    if record.tools:
        calls = ",".join(
            f"{t.tool}->{'ok' if t.ok else 'error'}:{t.ms:.1f}ms" for t in record.tools
        )
        parts.append(f"tools={calls}")
    if record.error:
        parts.append(f"error={record.error}")
    return " ".join(parts)


def tool_line(tool: str, ok: bool, ms: float, via: str) -> str:
    return f"tools/call {tool} surface={via} outcome={'ok' if ok else 'error'} ms={ms:.1f}"


class AccessWriter:
    def __init__(self) -> None:
        self._pending: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None

    def write(self, line: str) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        self._pending.append((time.time(), line))
        if len(self._pending) >= MAX_BATCH:
            self.flush()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a test, a shutdown): write at once
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_AFTER, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        text: str | None = None
        for handler in _handlers():
            if _writes_plainly(handler) and isinstance(handler, logging.StreamHandler):
                if text is None:
                    text = "".join(
                        f"{_stamp(at)} INFO {log.name}: {line}\n" for at, line in pending
                    )
                with handler.lock:  # type: ignore[union-attr]  # every Handler makes one
                    handler.stream.write(text)
                    handler.flush()
            else:
                for at, line in pending:  # any other handler gets ordinary records
                    record = log.makeRecord(log.name, logging.INFO, "", 0, line, None, None)
                    record.created = at
                    if record.levelno >= handler.level:
                        handler.handle(record)


def _handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = []
    logger: logging.Logger | None = log
    while logger is not None:
        found.extend(h for h in logger.handlers if h.level <= logging.INFO)
        logger = logger.parent if logger.propagate else None
    return found


def _writes_plainly(handler: logging.Handler) -> bool:
    """A stream or file handler with the CLI's format and no filters: a line for it can
    be formatted here, once per batch, exactly as it would format it."""
    formatter = handler.formatter
    return (
        type(handler) in (logging.StreamHandler, logging.FileHandler)
        and not handler.filters
        and formatter is not None
        and formatter._fmt == LOG_FORMAT
        and formatter.datefmt is None
        and type(formatter) is logging.Formatter
    )


_last_second = -1
_last_prefix = ""


def _stamp(at: float) -> str:
    """`logging.Formatter`'s default asctime (local time, milliseconds)."""
    global _last_second, _last_prefix
    second = int(at)
    if second != _last_second:
        _last_second = second
        _last_prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    return f"{_last_prefix},{int((at - second) * 1000):03d}"
