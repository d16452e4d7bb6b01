"""What the pooling tests share: a woollama in front of a fake device."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import openai

from tests.fakes.device import _FakeDevice
from tests.harness import Woollama


def pooled(
    device: _FakeDevice,
    *,
    name: str = "box",
    protocol: str = "ollama",
    models: tuple[str, ...] = ("m1", "m2", "m3"),
    **fields: Any,
) -> str:
    """An `[inferencers.<name>]` section for `device`, with pooling `fields`."""
    lines = [
        f"[inferencers.{name}]",
        f'base_url = "{device.base_url}"',
        f'management_url = "{device.origin}"',
        f'management_protocol = "{protocol}"',
        "models = [" + ", ".join(f'"{m}"' for m in models) + "]",
    ]
    tables = []
    for key, value in fields.items():
        if isinstance(value, dict):
            body = "\n".join(f'"{k}" = {_toml(v)}' for k, v in value.items())
            tables.append(f"[inferencers.{name}.{key}]\n{body}")
        else:
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n\n" + "\n\n".join(tables) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def ask(client: openai.OpenAI, model: str) -> str:
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    return answer.model


def concurrently(calls: list[Callable[[], Any]], timeout: float = 30.0) -> list[Any]:
    """Run `calls` at once on threads; each result, or the exception it raised."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        results = []
        for future in futures:
            try:
                results.append(future.result(timeout))
            except Exception as exc:
                results.append(exc)
        return results


def models(server: Woollama) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in server.http().get("/v1/models").json()["data"]}
