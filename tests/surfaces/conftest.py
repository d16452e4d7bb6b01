from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, start, write_config


@dataclass
class Router:
    """One woollama in front of one fake backend, shared by a module's tests."""

    server: Woollama
    fake: FakeOpenAI


def closed_port() -> int:
    """A loopback port nobody listens on, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    root: Path = tmp_path_factory.mktemp("router")
    with FakeOpenAI(models=["fake-model", "other-model"]) as fake:
        write_config(
            root / "config",
            inferencers=f"""
[inferencers.fake]
base_url = "{fake.base_url}"
models = ["static-model"]
discover = true

[inferencers.picky]
base_url = "{fake.base_url}"
discover = true
model_patterns = ["other-*"]

[inferencers.keyed]
base_url = "{fake.base_url}"
api_key_env = "FAKE_PROVIDER_KEY"

[inferencers.keyless]
base_url = "{fake.base_url}"
api_key_env = "UNSET_PROVIDER_KEY"

[inferencers.down]
base_url = "http://127.0.0.1:{closed_port()}/v1"
discover = true

[inferencers.hasty]
base_url = "{fake.base_url}"
timeout = 1
""",
            recipes='[recipes.helper]\ninferencer = "fake/fake-model"\ndescription = "helps"\n',
        )
        server = start(root, {"FAKE_PROVIDER_KEY": "sk-fake-123"})
        try:
            yield Router(server, fake)
        finally:
            server.stop()


@pytest.fixture
def fake(router: Router) -> FakeOpenAI:
    router.fake.requests.clear()
    assert router.fake.pending_replies == 0, "a previous test left scripted replies"
    return router.fake
