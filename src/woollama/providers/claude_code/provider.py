"""`claude-code/<model>`: the local Claude Code CLI, run headless, as a backend.

Two uses:

- `open("/chat/completions", body)` — a tool-less completion. The conversation is
  rendered into one prompt; the CLI runs one turn with no built-in tools, no MCP
  servers and no host settings. A client's `tools`/`tool_choice` are ignored (the
  answer is always plain text); sampling parameters are ignored too, since the CLI
  has no flags for them. The answer comes back as an OpenAI chat.completion, or as a
  short SSE stream when `stream` is true (the CLI's JSON mode yields the text only
  once it is complete, so the stream carries it as a single delta).
- `delegate(...)` — the executor for a claude-code recipe with tools: the CLI runs
  its own tool loop against exactly the recipe's allow-listed MCP tools.

Every run is contained: a fresh temporary cwd (removed afterwards), a child
environment built from an allow-list (no provider keys, no WOOLLAMA_TOKEN), its own
process group killed on timeout or cancellation.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from woollama.config.models import McpServerConfig
from woollama.errors import BackendError, BadRequest, Unsupported
from woollama.providers.base import NO_HEADERS
from woollama.providers.claude_code import args
from woollama.providers.claude_code.run import (
    CliResult,
    kill_now,
    openai_usage,
    run_cli,
    scratch,
    timeout_from,
)
from woollama.providers.openai_wire import DONE, ChunkStream, completion, sse

MODELS = ("haiku", "sonnet", "opus")
COMPLETION_TIMEOUT = 300.0
DELEGATION_TIMEOUT = 600.0
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class ReadyUpstream:
    """An answer already complete in memory, seen through the `Upstream` protocol."""

    headers = NO_HEADERS

    def __init__(self, chunks: list[bytes], content_type: str):
        self.status = 200
        self.content_type = content_type
        self._chunks = chunks

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        return None


class ClaudeCodeProvider:
    def __init__(self, name: str = "claude-code", env: Mapping[str, str] = os.environ):
        self.name = name
        self._env = env
        self._live: set[asyncio.subprocess.Process] = set()

    async def list_models(self) -> list[str]:
        return list(MODELS)

    def unavailable(self) -> str | None:
        try:
            args.resolve_binary(self._env)
        except BackendError as exc:
            return exc.message
        return None

    async def open(self, endpoint: str, body: dict[str, Any]) -> ReadyUpstream:
        if endpoint != "/chat/completions":
            raise Unsupported(
                f"provider {self.name!r} (the claude CLI) serves chat completions only, "
                f"not {endpoint}"
            )
        if body.get("n") not in (None, 1):
            raise Unsupported(f"provider {self.name!r} returns one choice; drop `n`", param="n")
        model = args.check_model(body.get("model"))
        system, prompt = args.render(body.get("messages"))
        limit = timeout_from(self._env, "WOOLLAMA_CLAUDE_TIMEOUT", COMPLETION_TIMEOUT)
        binary = args.resolve_binary(self._env)
        with scratch() as tmp:
            system_file = tmp.write("system.txt", system) if system else None
            argv = args.completion_argv(binary, model, system_file)
            result = await self._run(argv, prompt, tmp.cwd, limit)
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return ReadyUpstream(_sse(model, result, include_usage), "text/event-stream")
        return ReadyUpstream([json.dumps(_completion(model, result)).encode()], "application/json")

    async def delegate(
        self,
        *,
        model: str,
        system: str,
        messages: list[dict],
        servers: Mapping[str, McpServerConfig],
        allowed_tools: list[tuple[str, str]],
        max_turns: int,
    ) -> tuple[str, dict[str, int]]:
        """Let claude run the tool loop itself with exactly `allowed_tools`.

        Returns the final text and OpenAI-style usage (prompt/completion/total tokens).
        """
        if not isinstance(max_turns, int) or max_turns < 1:
            raise BadRequest(f"max_turns must be a positive integer (got {max_turns!r})")
        model = args.check_model(model)
        allowed = args.mcp_tool_names(allowed_tools)  # validates every name first
        config = args.mcp_config(servers, allowed_tools)
        system_text, prompt = args.render(messages, system)
        limit = timeout_from(self._env, "WOOLLAMA_CLAUDE_DELEGATE_TIMEOUT", DELEGATION_TIMEOUT)
        binary = args.resolve_binary(self._env)
        with scratch() as tmp:
            system_file = tmp.write("system.txt", system_text) if system_text else None
            mcp_file = tmp.write("mcp.json", json.dumps(config))
            argv = args.delegate_argv(binary, model, system_file, mcp_file, allowed, max_turns)
            result = await self._run(argv, prompt, tmp.cwd, limit)
        usage = openai_usage(result.usage)
        return result.text, {key: usage[key] for key in _USAGE_KEYS}

    async def converse(
        self, *, model: str, messages: list[dict], session_id: str | None, workdir: Path
    ) -> tuple[str, str | None, dict[str, int]]:
        """One turn of a conversation the CLI itself keeps, resumed by its session id.

        Sessions belong to a working directory, so every turn of one conversation runs
        in the same private `workdir`. Returns (text, session id, usage).
        """
        model = args.check_model(model)
        system, prompt = args.render(messages)
        limit = timeout_from(self._env, "WOOLLAMA_CLAUDE_TIMEOUT", COMPLETION_TIMEOUT)
        binary = args.resolve_binary(self._env)
        with scratch() as tmp:
            system_file = tmp.write("system.txt", system) if system else None
            argv = args.completion_argv(binary, model, system_file)
            if session_id:
                argv.append(f"--resume={args.check_session_id(session_id)}")
            result = await self._run(argv, prompt, workdir, limit)
        usage = openai_usage(result.usage)
        return result.text, result.session_id, {key: usage[key] for key in _USAGE_KEYS}

    async def _run(self, argv: list[str], prompt: str, cwd: Path, limit: float) -> CliResult:
        return await run_cli(
            argv,
            prompt=prompt,
            cwd=cwd,
            env=args.child_env(self._env),
            time_limit=limit,
            provider=self.name,
            live=self._live,
        )

    async def aclose(self) -> None:
        # Requests normally clean up after themselves; this catches any left at shutdown.
        for proc in list(self._live):
            kill_now(proc)


def _completion(model: str, result: CliResult) -> dict[str, Any]:
    message = {"role": "assistant", "content": result.text}
    return completion(model, message, "stop", openai_usage(result.usage))


def _sse(model: str, result: CliResult, include_usage: bool) -> list[bytes]:
    # The CLI hands back the whole answer at once: one content delta carries it.
    head = ChunkStream(model, include_usage)
    chunks = [
        head.chunk({"role": "assistant", "content": ""}),
        head.chunk({"content": result.text}),
        head.chunk({}, "stop"),
    ]
    if include_usage:
        chunks.append(head.usage_chunk(openai_usage(result.usage)))
    return [*map(sse, chunks), DONE]
