"""An alias over two real llama.cpp engines (SmolLM2): kill the first, the second answers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import Woollama
from tests.providers.test_llamacpp_engine import _wait_ready, smollm2_gguf
from tests.surfaces.conftest import closed_port


def _engine(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = closed_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
             "--model_alias", "smollm2", "--chat_format", "chatml-function-calling",
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}/v1"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    started = [_engine(tmp_path / f"engine{i}.log") for i in range(2)]
    try:
        for index, (proc, url) in enumerate(started):
            _wait_ready(url, proc, tmp_path / f"engine{index}.log")
        yield started
    finally:
        for proc, _ in started:
            _stop(proc)


def test_an_alias_answers_from_the_second_engine_once_the_first_dies(
    woollama: Callable[..., Woollama], engines
):
    (first, first_url), (_, second_url) = engines
    server = woollama(
        inferencers=f'[inferencers.one]\nbase_url = "{first_url}"\n\n'
        f'[inferencers.two]\nbase_url = "{second_url}"\n\n'
        '[aliases]\nlocal = ["one/smollm2", "two/smollm2"]\n'
    )
    client = server.client(timeout=120)
    ask = {"model": "local", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}
    raw = client.chat.completions.with_raw_response.create(**ask)
    assert raw.headers["x-woollama-target"] == "one/smollm2"
    _stop(first)
    raw = client.chat.completions.with_raw_response.create(**ask)
    assert raw.headers["x-woollama-target"] == "two/smollm2"
    answer = raw.parse()
    assert answer.choices[0].message.content
    assert answer.model == "smollm2"
