#!/usr/bin/env python3
"""A fake `claude` (Claude Code CLI) for tests, faithful to its headless protocol.

It accepts the real CLI's flags (unknown ones fail as the real one fails: "error:
unknown option '--x'", exit 1), takes the prompt as an argument or on stdin, and with
`-p --output-format json` prints one result object:

    {"type": "result", "subtype": "success", "is_error": false, "result": "...",
     "session_id": "<uuid>", "num_turns": 1, "usage": {...}, "total_cost_usd": 0.0, ...}

The answer is "claude says: <last line of the prompt>" (or $FAKE_CLAUDE_REPLY). A
resumed session (`--resume <id>`) answers "claude remembers: p1 | p2 | ..." with the
last line of every prompt of that session, the current one included.

Settings come from the environment, which the provider filters, so tests install a
wrapper (`install()`) that exports them and execs this script:

    FAKE_CLAUDE_RECORD    file that gets one JSON line per run (argv, env, cwd, prompt, ...)
    FAKE_CLAUDE_SESSIONS  directory keeping sessions by id
    FAKE_CLAUDE_REPLY     fixed answer text
    FAKE_CLAUDE_MODE      fail | garbage | hang | error_result | max_turns
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn

VERSION = "2.1.0 (Claude Code)"
_PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Commander's wording and exit status, not argparse's.
        if "unrecognized arguments" in message:
            flag = message.split(":", 1)[1].split()[0]
            message = f"unknown option '{flag}'"
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(1)


def _parser() -> _Parser:
    p = _Parser(prog="claude", add_help=True, allow_abbrev=False)
    p.add_argument("prompt", nargs="?")
    p.add_argument("-p", "--print", action="store_true", dest="print_")
    p.add_argument("--output-format", choices=("text", "json", "stream-json"), default="text")
    p.add_argument("--input-format", choices=("text", "stream-json"), default="text")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("-d", "--debug", nargs="?", const="")
    p.add_argument("--model")
    p.add_argument("--fallback-model")
    p.add_argument("--max-turns", type=int)
    p.add_argument("--max-budget-usd", type=float)
    p.add_argument("--system-prompt")
    p.add_argument("--system-prompt-file")
    p.add_argument("--append-system-prompt")
    p.add_argument("--append-system-prompt-file")
    p.add_argument("--tools", nargs="*")
    p.add_argument("--allowedTools", "--allowed-tools", nargs="*", dest="allowed_tools")
    p.add_argument("--disallowedTools", "--disallowed-tools", nargs="*", dest="disallowed_tools")
    p.add_argument("--mcp-config", nargs="+", action="extend")
    p.add_argument("--strict-mcp-config", action="store_true")
    p.add_argument("--permission-mode", choices=_PERMISSION_MODES)
    p.add_argument("--permission-prompt-tool")
    p.add_argument("--dangerously-skip-permissions", action="store_true")
    p.add_argument("--setting-sources")
    p.add_argument("--settings")
    p.add_argument("--add-dir", nargs="+", action="extend")
    p.add_argument("-c", "--continue", action="store_true", dest="continue_")
    p.add_argument("-r", "--resume", nargs="?", const="")
    p.add_argument("--fork-session", action="store_true")
    p.add_argument("--session-id")
    p.add_argument("--include-partial-messages", action="store_true")
    p.add_argument("--json-schema")
    p.add_argument("-v", "--version", action="version", version=VERSION)
    return p


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message + "\n")
    raise SystemExit(1)


def _mcp_configs(values: list[str]) -> list[Any]:
    configs = []
    for value in values:
        text = value if value.lstrip().startswith("{") else Path(value).read_text()
        try:
            configs.append(json.loads(text))
        except ValueError:
            _fail(f"Error: Invalid MCP configuration: {value}")
    return configs


def _session(opts: argparse.Namespace, store: Path | None) -> tuple[str, list[str]]:
    """(session id, earlier prompts) the way the CLI picks them."""
    if opts.session_id is not None:
        try:
            uuid.UUID(opts.session_id)
        except ValueError:
            _fail("Error: Invalid session ID. Must be a valid UUID.")
        if store and (store / opts.session_id).exists():
            _fail(f"Error: Session ID {opts.session_id} is already in use.")
    if opts.resume:
        path = store / opts.resume if store else None
        if path is None or not path.exists():
            _fail(f"No conversation found with session ID: {opts.resume}")
        earlier = json.loads(path.read_text())
        sid = opts.session_id or (str(uuid.uuid4()) if opts.fork_session else opts.resume)
        return sid, earlier
    return opts.session_id or str(uuid.uuid4()), []


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    if not opts.print_:
        _fail("fake claude: only print mode (-p) is implemented")
    if opts.output_format == "stream-json" and not opts.verbose:
        _fail("Error: When using --print, --output-format=stream-json requires --verbose")
    prompt = opts.prompt if opts.prompt is not None else sys.stdin.read()
    if not prompt.strip():
        _fail("Error: Input must be provided either through stdin or as a prompt argument "
              "when using --print")  # fmt: skip
    system = opts.system_prompt
    if opts.system_prompt_file is not None:
        system = Path(opts.system_prompt_file).read_text()
    mcp = _mcp_configs(opts.mcp_config or [])
    store = (
        Path(os.environ["FAKE_CLAUDE_SESSIONS"]) if "FAKE_CLAUDE_SESSIONS" in os.environ else None
    )
    sid, earlier = _session(opts, store)
    mode = os.environ.get("FAKE_CLAUDE_MODE", "")

    record: dict[str, Any] = {
        "pid": os.getpid(),
        "argv": argv,
        "env": {k: v for k, v in os.environ.items() if not k.startswith("FAKE_CLAUDE_")},
        "cwd": os.getcwd(),
        "cwd_entries": sorted(os.listdir(".")),
        "prompt": prompt,
        "system_prompt": system,
        "mcp_config": mcp,
        "session_id": sid,
    }
    if mode == "hang":
        # A grandchild in the same process group, as MCP servers would be.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        record["grandchild_pid"] = child.pid
    if "FAKE_CLAUDE_RECORD" in os.environ:
        with open(os.environ["FAKE_CLAUDE_RECORD"], "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")

    if mode == "hang":
        time.sleep(3600)
    if mode == "fail":
        _fail("Error: fake claude failed on purpose (FAKE_CLAUDE_MODE=fail)")
    if mode == "garbage":
        print("<html>502 Bad Gateway</html> this is not JSON")
        return 0

    prompts = [*earlier, _last_line(prompt)]
    if store:
        store.mkdir(parents=True, exist_ok=True)
        (store / sid).write_text(json.dumps(prompts))
    if "FAKE_CLAUDE_REPLY" in os.environ:
        text = os.environ["FAKE_CLAUDE_REPLY"]
    elif earlier:
        text = "claude remembers: " + " | ".join(prompts)
    else:
        text = "claude says: " + prompts[-1]
    is_error, subtype = False, "success"
    if mode == "error_result":
        # A failed API call still comes as subtype "success", flagged by is_error.
        is_error, text = True, "API Error: 529 Overloaded (fake)"
    if mode == "max_turns":
        is_error, subtype = True, "error_max_turns"
    result = {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "duration_ms": 12,
        "duration_api_ms": 10,
        "num_turns": 1 if mode != "max_turns" else (opts.max_turns or 1),
        "result": text if subtype == "success" else None,
        "session_id": sid,
        "total_cost_usd": 0.0,
        "usage": {
            "input_tokens": len(prompt.split()) + len((system or "").split()),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": len(text.split()),
        },
        "permission_denials": [],
    }
    if subtype != "success":
        del result["result"]
    if opts.output_format == "json":
        print(json.dumps(result))
    elif opts.output_format == "stream-json":
        print(json.dumps({"type": "system", "subtype": "init", "session_id": sid}))
        message = {"role": "assistant", "content": [{"type": "text", "text": text}]}
        print(json.dumps({"type": "assistant", "message": message, "session_id": sid}))
        print(json.dumps(result))
    else:
        print(text)
    return 0


def install(
    directory: Path,
    *,
    record: Path | None = None,
    sessions: Path | None = None,
    reply: str | None = None,
    mode: str | None = None,
) -> Path:
    """Write an executable `claude` wrapper in `directory` that runs this fake."""
    settings = {
        "FAKE_CLAUDE_RECORD": record,
        "FAKE_CLAUDE_SESSIONS": sessions,
        "FAKE_CLAUDE_REPLY": reply,
        "FAKE_CLAUDE_MODE": mode,
    }
    lines = ["#!/bin/sh"]
    lines += [f"export {k}={shlex.quote(str(v))}" for k, v in settings.items() if v is not None]
    lines.append(
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} "$@"'
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "claude"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
