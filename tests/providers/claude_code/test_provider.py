"""The claude-code provider against a protocol-faithful fake `claude` executable."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.fakes import claude_cli
from woollama.config.models import McpServerConfig
from woollama.errors import BackendError, BackendTimeout, BadRequest, Unsupported
from woollama.providers.claude_code.args import BUILTIN_TOOLS
from woollama.providers.claude_code.provider import ClaudeCodeProvider
from woollama.providers.sse import SSEDecoder

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-secret",
    "OPENAI_API_KEY": "sk-openai-secret",
    "WOOLLAMA_TOKEN": "bearer-secret",
    "GROQ_API_KEY": "gsk-secret",
    "SOME_OTHER_SECRET": "hush",
}
ALLOWED_ENV = {"HOME", "PATH", "LANG", "LC_ALL", "TMPDIR", "TERM", "USER", "SHELL",
               "https_proxy", "NO_PROXY", "CLAUDE_CONFIG_DIR"}  # fmt: skip
SHELL_ADDED = {"PWD", "SHLVL", "_", "OLDPWD"}  # what /bin/sh in the wrapper may export


@dataclass
class FakeClaude:
    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def record(self) -> Path:
        return self.root / "runs.jsonl"

    def install(self, **settings: Any) -> Path:
        return claude_cli.install(
            self.bin_dir, record=self.record, sessions=self.root / "sessions", **settings
        )

    def env(self, **extra: str) -> dict[str, str]:
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        path = os.pathsep.join([str(self.bin_dir), "/usr/bin", "/bin"])
        return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", **extra}

    def runs(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def provider(self, **extra: str) -> ClaudeCodeProvider:
        return ClaudeCodeProvider(env=self.env(**extra))


@pytest.fixture
def fake(tmp_path: Path) -> FakeClaude:
    fake = FakeClaude(tmp_path)
    fake.install()
    return fake


def _chat(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": "sonnet", "messages": [{"role": "user", "content": text}], **extra}


def _flag(argv: list[str], name: str) -> str:
    """The value given to `name`, in either the two-token or the equals form."""
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


async def _eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _exists(path: str) -> bool:
    return Path(path).exists()


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie nobody has reaped yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


# -- completion ---------------------------------------------------------------------


async def test_completion_answers_as_an_openai_chat_completion(fake: FakeClaude) -> None:
    upstream = await fake.provider().open("/chat/completions", _chat("hello there"))
    assert upstream.status == 200 and upstream.content_type == "application/json"
    completion = ChatCompletion.model_validate(json.loads(await upstream.read()))
    assert completion.choices[0].message.content == "claude says: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "sonnet"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 4)
    assert completion.usage.total_tokens == 6
    await upstream.aclose()


async def _sse_events(upstream: Any) -> list[str]:
    decoder, data = SSEDecoder(), []
    async for chunk in upstream.iter_bytes():
        data.extend(event.data for event in decoder.feed(chunk))
    return data


async def test_streamed_completion_is_role_one_delta_finish_usage_then_done(
    fake: FakeClaude,
) -> None:
    body = _chat("stream me", stream=True, stream_options={"include_usage": True})
    upstream = await fake.provider().open("/chat/completions", body)
    assert upstream.content_type == "text/event-stream"
    data = await _sse_events(upstream)
    assert data[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(d)) for d in data[:-1]]
    assert [c.choices[0].delta.role for c in chunks[:1]] == ["assistant"]
    assert [c.choices[0].delta.content for c in chunks[1:2]] == ["claude says: stream me"]
    assert chunks[2].choices[0].finish_reason == "stop"
    assert chunks[3].choices == [] and chunks[3].usage is not None
    assert chunks[3].usage.completion_tokens == 4
    assert len({c.id for c in chunks}) == 1


async def test_streamed_completion_has_no_usage_chunk_unless_asked(fake: FakeClaude) -> None:
    upstream = await fake.provider().open("/chat/completions", _chat(stream=True))
    data = await _sse_events(upstream)
    chunks = [ChatCompletionChunk.model_validate(json.loads(d)) for d in data[:-1]]
    assert len(chunks) == 3 and all(c.usage is None for c in chunks)


async def test_conversation_becomes_system_prompt_and_transcript_with_last_message_last(
    fake: FakeClaude,
) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "my name is Ada"},
        {"role": "assistant", "content": "Hello Ada"},
        {"role": "user", "content": [{"type": "text", "text": "what is my name?"}]},
    ]
    upstream = await fake.provider().open(
        "/chat/completions", {"model": "haiku", "messages": messages}
    )
    answer = json.loads(await upstream.read())
    assert answer["choices"][0]["message"]["content"] == "claude says: what is my name?"
    run = fake.runs()[-1]
    assert run["system_prompt"] == "Be terse."
    assert "User: my name is Ada" in run["prompt"] and "Assistant: Hello Ada" in run["prompt"]
    assert run["prompt"].rstrip().endswith("what is my name?")
    assert "what is my name?" not in run["argv"]  # the conversation never goes in argv
    assert _flag(run["argv"], "--model") == "haiku"


async def test_completion_runs_tool_less_without_settings_or_mcp_servers(
    fake: FakeClaude,
) -> None:
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {}}}]
    body = _chat(tools=tools, tool_choice="required")  # ignored: the run stays tool-less
    await fake.provider().open("/chat/completions", body)
    run = fake.runs()[-1]
    argv = run["argv"]
    assert "-p" in argv and _flag(argv, "--output-format") == "json"
    assert _flag(argv, "--tools") == ""
    assert set(_flag(argv, "--disallowedTools").split(",")) == set(BUILTIN_TOOLS)
    assert "--allowedTools" not in argv and "--allowed-tools" not in argv
    assert _flag(argv, "--permission-mode") == "dontAsk"
    assert _flag(argv, "--setting-sources") == ""
    assert _flag(argv, "--max-turns") == "1"
    assert "--strict-mcp-config" in argv
    assert run["mcp_config"] == [{"mcpServers": {}}]
    assert "--dangerously-skip-permissions" not in argv
    assert "get_time" not in json.dumps(run)


async def test_child_environment_holds_only_allow_listed_variables(fake: FakeClaude) -> None:
    allowed = {"LC_ALL": "C.UTF-8", "TMPDIR": "/tmp", "TERM": "dumb", "USER": "ada",
               "SHELL": "/bin/sh", "https_proxy": "http://proxy:3128", "NO_PROXY": "localhost",
               "CLAUDE_CONFIG_DIR": "/tmp/claude-config"}  # fmt: skip
    provider = fake.provider(**SECRETS, **allowed)
    await provider.open("/chat/completions", _chat())
    env = fake.runs()[-1]["env"]
    assert not set(SECRETS) & set(env)
    assert set(env) - SHELL_ADDED <= ALLOWED_ENV
    assert {k: env[k] for k in allowed} == allowed
    assert env["HOME"] == provider._env["HOME"]


async def test_each_run_has_a_fresh_empty_cwd_that_is_removed_afterwards(
    fake: FakeClaude,
) -> None:
    provider = fake.provider()
    await provider.open("/chat/completions", _chat("one"))
    await provider.open("/chat/completions", _chat("two"))
    first, second = fake.runs()
    assert first["cwd"] != second["cwd"]
    assert first["cwd_entries"] == [] and second["cwd_entries"] == []
    assert not _exists(first["cwd"]) and not _exists(second["cwd"])


async def test_models_are_the_claude_aliases(fake: FakeClaude) -> None:
    assert await fake.provider().list_models() == ["haiku", "sonnet", "opus"]


# -- delegation ---------------------------------------------------------------------

SERVERS = {
    "hello": McpServerConfig(command="/usr/bin/python3", args=("hello.py",),
                             env={"HELLO_KEY": "k1"}),
    "web": McpServerConfig(url="http://127.0.0.1:9/mcp", headers={"authorization": "Bearer w"}),
    "unused": McpServerConfig(command="secret-server", env={"UNUSED_KEY": "never"}),
}  # fmt: skip


async def _delegate(provider: ClaudeCodeProvider, tools: list[tuple[str, str]],
                    **kw: Any) -> tuple[str, dict[str, int]]:  # fmt: skip
    return await provider.delegate(
        model=kw.pop("model", "sonnet"),
        system=kw.pop("system", "Use the tools."),
        messages=kw.pop("messages", [{"role": "user", "content": "greet Ada"}]),
        servers=kw.pop("servers", SERVERS),
        allowed_tools=tools,
        max_turns=kw.pop("max_turns", 5),
    )


async def test_delegation_returns_the_final_text_and_usage(fake: FakeClaude) -> None:
    text, usage = await _delegate(fake.provider(), [("hello", "greet")])
    assert text == "claude says: greet Ada"
    assert usage == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    run = fake.runs()[-1]
    assert run["system_prompt"] == "Use the tools."
    assert _flag(run["argv"], "--max-turns") == "5"


async def test_delegation_mcp_config_holds_only_the_referenced_servers_with_their_env(
    fake: FakeClaude,
) -> None:
    await _delegate(fake.provider(), [("hello", "greet"), ("web", "fetch"), ("hello", "wave")])
    run = fake.runs()[-1]
    assert "--strict-mcp-config" in run["argv"]
    assert run["mcp_config"] == [{"mcpServers": {
        "hello": {"type": "stdio", "command": "/usr/bin/python3", "args": ["hello.py"],
                  "env": {"HELLO_KEY": "k1"}},
        "web": {"type": "http", "url": "http://127.0.0.1:9/mcp",
                "headers": {"authorization": "Bearer w"}},
    }}]  # fmt: skip
    assert not _exists(
        _flag(run["argv"], "--mcp-config")
    )  # removed with the run's scratch directory
    assert "k1" not in " ".join(run["argv"])  # server env stays out of argv


async def test_delegation_allows_exactly_the_listed_mcp_tools(fake: FakeClaude) -> None:
    await _delegate(fake.provider(), [("hello", "greet"), ("web", "fetch")])
    argv = fake.runs()[-1]["argv"]
    assert _flag(argv, "--allowedTools").split(",") == ["mcp__hello__greet", "mcp__web__fetch"]
    assert _flag(argv, "--tools") == ""
    assert _flag(argv, "--permission-mode") == "dontAsk"
    assert _flag(argv, "--setting-sources") == ""
    assert set(_flag(argv, "--disallowedTools").split(",")) == set(BUILTIN_TOOLS)


async def test_delegation_stdio_server_keeps_its_working_directory(fake: FakeClaude) -> None:
    servers = {"tree": McpServerConfig(command="srv", args=("-x",), cwd="/srv/my dir")}
    await _delegate(fake.provider(), [("tree", "ls")], servers=servers)
    entry = fake.runs()[-1]["mcp_config"][0]["mcpServers"]["tree"]
    assert entry["command"] == "/bin/sh"
    assert entry["args"][2:] == ["/srv/my dir", "srv", "-x"]
    shell = await asyncio.create_subprocess_exec(
        "/bin/sh", *entry["args"][:2], "/", "pwd", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await shell.communicate()
    assert out.decode().strip() == "/"


@pytest.mark.parametrize(
    "tool",
    ["greet --dangerously-skip-permissions", "a,b", "a b", "Bash(rm:*)", "", "mcp__x__*", "é"],
)
async def test_delegation_refuses_tool_names_that_could_smuggle_flags_or_patterns(
    fake: FakeClaude, tool: str
) -> None:
    with pytest.raises(BadRequest):
        await _delegate(fake.provider(), [("hello", "greet"), ("hello", tool)])
    assert fake.runs() == []


@pytest.mark.parametrize("server", ["x/y", "a,b", "hello world", "x(y)", ""])
async def test_delegation_refuses_unsafe_server_names(fake: FakeClaude, server: str) -> None:
    with pytest.raises(BadRequest):
        await _delegate(fake.provider(), [(server, "greet")], servers={server: SERVERS["hello"]})
    assert fake.runs() == []


async def test_delegation_refuses_a_server_missing_from_the_config(fake: FakeClaude) -> None:
    with pytest.raises(BadRequest, match="nowhere"):
        await _delegate(fake.provider(), [("nowhere", "greet")])


async def test_delegation_that_runs_out_of_turns_is_a_bad_gateway(fake: FakeClaude) -> None:
    fake.install(mode="max_turns")
    with pytest.raises(BackendError) as caught:
        await _delegate(fake.provider(), [("hello", "greet")], max_turns=2)
    assert caught.value.code == "max_turns_exceeded"


# -- errors -------------------------------------------------------------------------


async def test_missing_binary_is_a_502_naming_woollama_claude_bin(fake: FakeClaude) -> None:
    provider = fake.provider(WOOLLAMA_CLAUDE_BIN=str(fake.root / "no-such-claude"))
    with pytest.raises(BackendError) as caught:
        await provider.open("/chat/completions", _chat())
    assert caught.value.status == 502 and "WOOLLAMA_CLAUDE_BIN" in caught.value.message


async def test_claude_not_on_path_is_a_502_naming_woollama_claude_bin(tmp_path: Path) -> None:
    provider = ClaudeCodeProvider(env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    with pytest.raises(BackendError, match="WOOLLAMA_CLAUDE_BIN"):
        await provider.open("/chat/completions", _chat())


async def test_explicit_binary_path_is_used(fake: FakeClaude) -> None:
    other = claude_cli.install(fake.root / "elsewhere", record=fake.record, reply="from elsewhere")
    provider = ClaudeCodeProvider(env={**fake.env(), "WOOLLAMA_CLAUDE_BIN": str(other)})
    answer = json.loads(await (await provider.open("/chat/completions", _chat())).read())
    assert answer["choices"][0]["message"]["content"] == "from elsewhere"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("fail", "failed on purpose"),
        ("garbage", "no JSON result"),
        ("error_result", "529 Overloaded"),
    ],
)
async def test_cli_failures_are_502_with_the_cli_message(
    fake: FakeClaude, mode: str, expected: str
) -> None:
    fake.install(mode=mode)
    with pytest.raises(BackendError) as caught:
        await fake.provider().open("/chat/completions", _chat())
    assert caught.value.status == 502 and expected in caught.value.message


async def test_a_hung_cli_times_out_with_504_and_its_process_group_is_killed(
    fake: FakeClaude,
) -> None:
    fake.install(mode="hang")
    provider = fake.provider(WOOLLAMA_CLAUDE_TIMEOUT="1.5")
    with pytest.raises(BackendTimeout) as caught:
        await provider.open("/chat/completions", _chat())
    assert caught.value.status == 504
    run = fake.runs()[-1]
    assert _gone(run["pid"])
    await _eventually(lambda: _gone(run["grandchild_pid"]))
    assert not _exists(run["cwd"])


async def test_a_cancelled_request_kills_the_cli(fake: FakeClaude) -> None:
    fake.install(mode="hang")
    task = asyncio.create_task(fake.provider().open("/chat/completions", _chat()))
    await _eventually(lambda: bool(fake.runs()))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = fake.runs()[-1]
    assert _gone(run["pid"])
    await _eventually(lambda: _gone(run["grandchild_pid"]))
    assert not _exists(run["cwd"])


async def test_closing_the_provider_kills_runs_in_flight(fake: FakeClaude) -> None:
    fake.install(mode="hang")
    provider = fake.provider()
    task = asyncio.create_task(provider.open("/chat/completions", _chat()))
    await _eventually(lambda: bool(fake.runs()))
    await provider.aclose()
    with pytest.raises(BackendError, match="killed by signal"):
        await asyncio.wait_for(task, 10)


async def test_other_endpoints_are_unsupported(fake: FakeClaude) -> None:
    with pytest.raises(Unsupported) as caught:
        await fake.provider().open("/embeddings", {"model": "sonnet", "input": "x"})
    assert caught.value.status == 501


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"model": "--dangerously-skip-permissions", "messages": [{"role": "user",
                                                                   "content": "x"}]}, BadRequest),
        ({"model": "sonnet", "messages": []}, BadRequest),
        ({"model": "sonnet", "messages": [{"role": "assistant", "content": "x"}]}, BadRequest),
        ({"model": "sonnet", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:,"}}]}]}, Unsupported),
    ],
)  # fmt: skip
async def test_requests_the_cli_cannot_take_are_refused_before_running_it(
    fake: FakeClaude, body: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await fake.provider().open("/chat/completions", body)
    assert fake.runs() == []


# -- the fake itself ----------------------------------------------------------------


def test_fake_rejects_unknown_flags_like_the_real_cli(fake: FakeClaude) -> None:
    done = subprocess.run([str(fake.bin_dir / "claude"), "-p", "--bogus", "hi"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 1
    assert "error: unknown option '--bogus'" in done.stderr


def test_fake_resume_recalls_earlier_prompts(fake: FakeClaude) -> None:
    claude = str(fake.bin_dir / "claude")

    def ask(*extra: str, prompt: str) -> dict[str, Any]:
        done = subprocess.run([claude, "-p", "--output-format", "json", *extra], input=prompt,
                              capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
        return json.loads(done.stdout)

    first = ask(prompt="a")
    assert first["result"] == "claude says: a"
    second = ask(f"--resume={first['session_id']}", prompt="b")
    assert second["result"] == "claude remembers: a | b"
    assert second["session_id"] == first["session_id"]
