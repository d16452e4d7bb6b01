"""What woollama hands the `claude` CLI: argv, child environment, prompt and MCP config.

Everything here is pure (no processes), so the containment rules can be read in one
place: no built-in tools, no host settings, no MCP servers but the ones named, no
secrets in the child's environment, and nothing the caller controls ever parsed as a
flag.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping
from typing import Any

from woollama.config.models import McpServerConfig
from woollama.errors import BackendError, BadRequest, Unsupported

# The child sees only these. Provider keys, WOOLLAMA_TOKEN and anything else the
# daemon holds stay behind; the CLI authenticates with its own login under HOME.
_ENV_ALLOW = frozenset(
    {"HOME", "PATH", "LANG", "TMPDIR", "TERM", "USER", "SHELL", "CLAUDE_CONFIG_DIR",
     "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
)  # fmt: skip

# `--tools ""` already removes every built-in; denying them by name as well means a
# CLI that ignored `--tools` would still refuse them (a bare-name deny rule removes
# the tool from the model's context, and deny beats any allow).
BUILTIN_TOOLS = (
    "Bash", "BashOutput", "KillShell", "Read", "Write", "Edit", "MultiEdit", "NotebookEdit",
    "Glob", "Grep", "LS", "WebFetch", "WebSearch", "Task", "Agent", "TodoWrite", "Skill",
    "SlashCommand", "ExitPlanMode", "ListMcpResourcesTool", "ReadMcpResourceTool",
)  # fmt: skip

# Letters, digits, _ and - only: a comma, space, parenthesis or leading dash in a
# name could add tools, widen a pattern or smuggle a flag into --allowedTools.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Aliases (sonnet), full ids (claude-sonnet-4-5) and variants (sonnet[1m]).
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\[\]-]{0,127}")
_EMPTY_MCP = json.dumps({"mcpServers": {}})


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in _ENV_ALLOW or k.startswith("LC_")}


def resolve_binary(env: Mapping[str, str]) -> str:
    """The CLI's path, looked up at call time so installing it needs no restart."""
    name = env.get("WOOLLAMA_CLAUDE_BIN") or "claude"
    found = shutil.which(name, path=env.get("PATH"))
    if found is None:
        raise BackendError(
            f"the claude CLI was not found ({name!r} is not an executable file or on PATH); "
            "install Claude Code or set WOOLLAMA_CLAUDE_BIN to its path",
            code="claude_cli_missing",
        )
    return found


def check_model(model: Any) -> str:
    if not isinstance(model, str) or not _MODEL.fullmatch(model):
        raise BadRequest(
            f"claude-code model {model!r} is not a model name; use haiku, sonnet or opus",
            param="model",
        )
    return model


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise BadRequest(
            f"MCP {kind} name {value!r} cannot be delegated to claude: "
            "only letters, digits, '_' and '-' are allowed",
            code="invalid_tool_name",
        )
    return value


# -- argv ---------------------------------------------------------------------------


def _common(binary: str, model: str, system_file: str | None, max_turns: int) -> list[str]:
    argv = [binary, "-p", "--output-format", "json", f"--model={check_model(model)}"]
    # The equals form binds even an empty or dash-leading value to its flag.
    argv += ["--system-prompt-file", system_file] if system_file else ["--system-prompt="]
    argv += [
        "--setting-sources=",  # no user, project or local settings, hooks or CLAUDE.md
        "--tools", "",
        "--disallowedTools", ",".join(BUILTIN_TOOLS),
        "--permission-mode", "dontAsk",  # never prompts: anything not allowed is denied
        "--max-turns", str(max_turns),
    ]  # fmt: skip
    return argv


_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def check_session_id(session_id: str) -> str:
    # A session id is passed on the command line; nothing that could be a flag is.
    if not _SESSION_ID.fullmatch(session_id):
        raise BadRequest(f"invalid claude session id {session_id!r}")
    return session_id


def completion_argv(binary: str, model: str, system_file: str | None) -> list[str]:
    return [
        *_common(binary, model, system_file, 1),
        "--mcp-config", _EMPTY_MCP,
        "--strict-mcp-config",
    ]  # fmt: skip


def delegate_argv(
    binary: str,
    model: str,
    system_file: str | None,
    mcp_file: str,
    allowed: Iterable[str],
    max_turns: int,
) -> list[str]:
    return [
        *_common(binary, model, system_file, max_turns),
        "--mcp-config", mcp_file,
        "--strict-mcp-config",
        "--allowedTools", ",".join(allowed),
    ]  # fmt: skip


# -- MCP config ---------------------------------------------------------------------


def mcp_tool_names(allowed_tools: Iterable[tuple[str, str]]) -> list[str]:
    names: list[str] = []
    for server, tool in allowed_tools:
        name = f"mcp__{check_name('server', server)}__{check_name('tool', tool)}"
        if name not in names:
            names.append(name)
    if not names:
        raise BadRequest("delegation to claude needs at least one allowed tool")
    return names


def mcp_config(
    servers: Mapping[str, McpServerConfig], allowed_tools: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """Claude's `--mcp-config` document holding only the servers the tools live on."""
    entries: dict[str, Any] = {}
    for server, _tool in allowed_tools:
        if server in entries:
            continue
        config = servers.get(server)
        if config is None:
            raise BadRequest(f"MCP server {server!r} is not configured in mcp.json")
        entries[server] = _server_entry(config)
    return {"mcpServers": entries}


def _server_entry(config: McpServerConfig) -> dict[str, Any]:
    if config.url is not None:
        return {"type": config.transport, "url": config.url, "headers": dict(config.headers)}
    assert config.command is not None
    command, args = config.command, list(config.args)
    if config.cwd:
        # Claude's stdio entries have no working directory; a shell `cd` keeps the
        # server's own cwd without letting the path be read as a command or option.
        command, args = "/bin/sh", ["-c", 'cd -- "$0" && exec "$@"', config.cwd, command, *args]
    return {"type": "stdio", "command": command, "args": args, "env": dict(config.env)}


# -- prompt -------------------------------------------------------------------------

_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool result", "function": "Tool"}


def render(messages: Any, system: str = "") -> tuple[str, str]:
    """An OpenAI message list as (system prompt, prompt).

    The CLI takes one prompt per run, so earlier turns become a transcript and the
    latest user message comes last, where the model answers it.
    """
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list", param="messages")
    system_parts = [system] if system else []
    turns: list[tuple[str, str]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise BadRequest("each message must be an object", param="messages")
        role = message.get("role")
        text = _text(message.get("content"))
        if role in ("system", "developer"):
            if text:
                system_parts.append(text)
        elif role in _LABELS:
            turns.append((str(role), _turn_text(role, text, message)))
        else:
            raise BadRequest(f"unknown message role {role!r}", param="messages")
    if not turns or turns[-1][0] != "user":
        raise BadRequest(
            "claude-code answers a user message: the last message must have role 'user'",
            param="messages",
        )
    *earlier, (_, last) = turns
    if not earlier:
        return "\n\n".join(system_parts), last
    transcript = "\n\n".join(f"{_LABELS[role]}: {text}" for role, text in earlier)
    prompt = (
        "The conversation so far:\n\n<conversation>\n"
        f"{transcript}\n</conversation>\n\nThe user's new message:\n\n{last}"
    )
    return "\n\n".join(system_parts), prompt


def _turn_text(role: Any, text: str, message: dict[str, Any]) -> str:
    if role == "assistant":
        tool_calls = message.get("tool_calls") or []
        if not isinstance(tool_calls, list):
            raise BadRequest("`tool_calls` must be a list", param="messages")
        functions = [c.get("function") for c in tool_calls if isinstance(c, dict)]
        calls = [
            f"[called tool {f.get('name')!s} with {f.get('arguments')!s}]"
            for f in functions
            if isinstance(f, dict)
        ]
        return "\n".join([text, *calls]).strip()
    if role == "tool" and message.get("tool_call_id"):
        return f"({message['tool_call_id']}) {text}"
    return text


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest("message content must be a string or a list of parts")
    texts: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            raise Unsupported(f"claude-code takes text content only (got a {kind!r} part)")
    return "\n".join(texts)
