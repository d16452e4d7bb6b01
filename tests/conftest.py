from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, start, write_config


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def woollama(tmp_path: Path) -> Iterator[Callable[..., Woollama]]:
    """Start real woollama processes; every one is stopped at teardown."""
    started: list[Woollama] = []

    def launch(
        *,
        inferencers: str | None = None,
        recipes: str | None = None,
        mcp: dict | None = None,
        env: dict[str, str] | None = None,
        root: Path | None = None,
    ) -> Woollama:
        root = root or tmp_path / f"w{len(started)}"
        write_config(root / "config", inferencers=inferencers, recipes=recipes, mcp=mcp)
        server = start(root, env)
        started.append(server)
        return server

    yield launch
    for server in started:
        server.stop()
