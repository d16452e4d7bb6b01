"""Running the `claude` CLI once: scratch directory, process group, timeout, result JSON."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from woollama.errors import BackendError, BackendTimeout

log = logging.getLogger(__name__)

_TAIL = 1000  # characters of stderr/stdout quoted in an error


@dataclass(frozen=True)
class CliResult:
    text: str
    usage: dict[str, Any]
    session_id: str | None
    raw: dict[str, Any]


class Scratch:
    """A private temporary tree: `work/` is the child's cwd, files sit beside it.

    Files written here (system prompt, MCP config with server env) stay out of argv,
    where any local user could read them with `ps`, and out of the model's cwd.
    """

    def __init__(self, root: Path):
        self.root = root
        self.cwd = root / "work"
        self.cwd.mkdir()

    def write(self, name: str, text: str) -> str:
        path = self.root / name
        # 0600 although the directory is already 0700: the MCP config holds server env.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        return str(path)


@contextlib.contextmanager
def scratch() -> Iterator[Scratch]:
    root = Path(tempfile.mkdtemp(prefix="woollama-claude-"))
    try:
        yield Scratch(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def timeout_from(env: Mapping[str, str], var: str, default: float) -> float:
    raw = env.get(var)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        log.warning("%s=%r is not a positive number of seconds; using %g", var, raw, default)
        return default
    return value


async def run_cli(
    argv: list[str],
    *,
    prompt: str,
    cwd: Path,
    env: dict[str, str],
    time_limit: float,
    provider: str,
    live: set[asyncio.subprocess.Process],
) -> CliResult:
    """Run one headless turn; the prompt goes on stdin, never through argv.

    The child leads its own process group so a timeout or a cancelled request kills
    it together with anything it spawned (MCP servers included).
    """
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise BackendError(
            f"provider {provider!r} could not start the claude CLI {argv[0]!r} ({exc}); "
            "check that WOOLLAMA_CLAUDE_BIN names an executable",
            code="claude_cli_missing",
        ) from None
    live.add(proc)
    try:
        async with asyncio.timeout(time_limit):
            stdout, stderr = await proc.communicate(prompt.encode("utf-8"))
    except TimeoutError:
        raise BackendTimeout(
            f"provider {provider!r}: the claude CLI did not finish within {time_limit:g} s "
            "and was stopped"
        ) from None
    finally:
        # Runs on success, timeout and cancellation alike; a no-op once reaped.
        await _kill_group(proc)
        live.discard(proc)
    log.info("claude CLI exited %s after %.1f s", proc.returncode, time.monotonic() - started)
    return parse_result(stdout, stderr, proc.returncode, provider)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    # The leader is not reaped yet, so its pid cannot have been reused as a group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await asyncio.shield(proc.wait())


def kill_now(proc: asyncio.subprocess.Process) -> None:
    """Synchronous kill for shutdown paths that cannot await."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def parse_result(stdout: bytes, stderr: bytes, returncode: int | None, provider: str) -> CliResult:
    out = stdout.decode("utf-8", "replace").strip()
    err_tail = stderr.decode("utf-8", "replace").strip()[-_TAIL:]
    result = _find_result(out)
    if result is None:
        detail = err_tail or out[-_TAIL:] or "no output"
        if returncode:
            raise BackendError(
                f"provider {provider!r}: the claude CLI {_exit(returncode)}: {detail}"
            )
        raise BackendError(
            f"provider {provider!r}: the claude CLI printed no JSON result "
            f"(is it Claude Code?): {detail}"
        )
    subtype = result.get("subtype")
    if returncode or result.get("is_error") or subtype != "success":
        message = result.get("result") or "; ".join(map(str, result.get("errors") or []))
        message = str(message or err_tail or subtype or "unknown error")[-_TAIL:]
        if subtype == "error_max_turns":
            raise BackendError(
                f"provider {provider!r}: claude stopped at its turn limit without a final "
                f"answer ({message}); raise max_turns",
                code="max_turns_exceeded",
            )
        where = _exit(returncode) if returncode else "reported an error"
        raise BackendError(f"provider {provider!r}: the claude CLI {where}: {message}")
    text = result.get("result")
    if not isinstance(text, str):
        raise BackendError(f"provider {provider!r}: the claude CLI result has no text")
    usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
    session = result.get("session_id")
    return CliResult(text, usage, session if isinstance(session, str) else None, result)


def _exit(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _find_result(out: str) -> dict[str, Any] | None:
    # Some CLI builds print diagnostics on stdout before the JSON, so look for the
    # last line that is a result object when the whole text is not one.
    candidates = [out, *reversed(out.splitlines())]
    for candidate in candidates:
        candidate = candidate.strip()
        if not candidate.startswith("{"):
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("type") == "result":
            return value
    return None


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Claude usage as OpenAI's: prompt tokens include the cached ones, as OpenAI counts."""

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and value >= 0 else 0

    cached = count("cache_read_input_tokens")
    prompt = count("input_tokens") + count("cache_creation_input_tokens") + cached
    completion = count("output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
