"""One woollama in front of a fake OpenAI backend and a fake Anthropic API, with aliases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import pytest

from tests.fakes.anthropic_backend import FakeAnthropic
from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, reset, start, write_config

TOKEN = "wl-test-token"
ANTHROPIC_KEY = "sk-ant-fake"
RECIPES = """
[recipes.counter]
inferencer = "fake/m"
system = "You count things."
tools = ["hello.count_to"]
"""


@dataclass
class Rig:
    server: Woollama
    openai_fake: FakeOpenAI
    anthropic_fake: FakeAnthropic

    def client(self, **kwargs: object) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", TOKEN)
        return anthropic.Anthropic(
            base_url=f"http://{self.server.address}", max_retries=0, timeout=30.0, **kwargs
        )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("anthropic-surface")
    with FakeOpenAI() as openai_fake, FakeAnthropic(api_key=ANTHROPIC_KEY) as anthropic_fake:
        write_config(
            root / "config",
            inferencers=f"""
[inferencers.fake]
base_url = "{openai_fake.base_url}"

[inferencers.anthropic]
base_url = "{anthropic_fake.base_url}"
api_key_env = "FAKE_ANTHROPIC_KEY"

[aliases]
"claude-haiku-4-5" = ["fake/exact"]
"claude-haiku-*" = ["fake/haiku-glob"]
"claude-sonnet-*" = ["fake/local-model", "fake/fallback"]
"claude-opus-*" = ["woollama/counter"]
"two-targets" = ["fake/first", "fake/second"]
""",
            recipes=RECIPES,
        )
        env = {"WOOLLAMA_TOKEN": TOKEN, "FAKE_ANTHROPIC_KEY": ANTHROPIC_KEY,
               "WOOLLAMA_TOOL_TIMEOUT": "3"}  # fmt: skip
        server = start(root, env)
        try:
            tools = server.http(headers={"x-api-key": TOKEN}).get("/v1/tools", params={"wait": 20})
            health = {s["name"]: s["status"] for s in tools.json()["servers"]}
            assert health["hello"] == "connected"
            yield Rig(server, openai_fake, anthropic_fake)
        finally:
            server.stop()


@pytest.fixture
def fake(rig: Rig) -> FakeOpenAI:
    return reset(rig.openai_fake)


@pytest.fixture
def native(rig: Rig) -> FakeAnthropic:
    rig.anthropic_fake.requests.clear()
    assert rig.anthropic_fake.pending_replies == 0, "a previous test left scripted replies"
    return rig.anthropic_fake
