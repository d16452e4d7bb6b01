"""Recipe and tool-call overhead: what woollama's loop and registry add.

Usage (repo root): ``.venv/bin/python bench/recipes.py [--quick]``; `make bench` runs it
after run.py. It appends a "Recipes and tools" section to docs/benchmarks.md.

- Tool call through the registry vs the same MCP server called directly with the
  `mcp` SDK (both in this process, both over stdio to `examples/textops.py`).
- A recipe turn: the fake backend (bench/fake_backend.py) answers a request that
  offers tools with one tool call, and the next turn with text. So a recipe with one
  tool costs two backend calls and one tool call; what remains is woollama's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import procs
import uvloop
from load import chat_body
from mcp import Client, StdioServerParameters
from procs import REPO
from report import write_section
from run import start_backend

from woollama.config.models import McpServerConfig
from woollama.tools import ToolRegistry

TEXTOPS = [str(REPO / "examples" / "textops.py")]
RECIPES = """
[recipes.plain]
inferencer = "fake/m"
tools = []

[recipes.counter]
inferencer = "fake/m"
tools = ["textops.word_count"]
"""
SECTION = "## Recipes and tools"


async def timed(fn: Callable[[], Awaitable[object]], n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def tool_calls(n: int, warmup: int) -> dict[str, list[float]]:
    args = {"text": "one two three"}
    async with Client(StdioServerParameters(command=sys.executable, args=TEXTOPS)) as client:
        direct = await timed(lambda: client.call_tool("word_count", args), n, warmup)
    registry = ToolRegistry(
        {"textops": McpServerConfig(command=sys.executable, args=tuple(TEXTOPS))}, timeout=30
    )
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(registry.run())
        await registry.wait_first_attempts(20)
        entry = registry.get("textops.word_count")
        assert entry is not None, registry.health()
        through = await timed(lambda: registry.call(entry, args), n, warmup)
        runner.cancel()
    return {"MCP SDK, direct": direct, "woollama registry": through}


async def recipe_turns(n: int, warmup: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="woollama-bench-") as tmp, procs.Procs(Path(tmp)) as pg:
        root = Path(tmp)
        _, port = start_backend(pg)
        cfg, run = root / "config", root / "run"
        cfg.mkdir()
        run.mkdir()
        (cfg / "inferencers.toml").write_text(
            f'[inferencers.fake]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
        )
        (cfg / "recipes.toml").write_text(RECIPES)
        env = procs.clean_env(WOOLLAMA_CONFIG_DIR=str(cfg), XDG_RUNTIME_DIR=str(run),
                              WOOLLAMA_STATE_DIR=str(root / "state"))  # fmt: skip
        woollama, wlog = pg.start("woollama", [sys.executable, "-m", "woollama"], env)
        procs.wait_until(lambda: (run / "woollama.addr").exists(), 20.0, woollama, wlog,
                         "woollama.addr")  # fmt: skip
        address = (run / "woollama.addr").read_text().strip()
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://{address}/v1/tools", params={"wait": "20"})

            def post(url: str, model: str) -> Callable[[], Awaitable[object]]:
                body = chat_body(model, stream=False)

                async def once() -> object:
                    headers = {"content-type": "application/json"}
                    async with session.post(url, data=body, headers=headers) as response:
                        assert response.status == 200, await response.text()
                        return await response.read()

                return once

            backend_url = f"http://127.0.0.1:{port}/v1/chat/completions"
            woollama_url = f"http://{address}/v1/chat/completions"
            return {
                "backend, direct": await timed(post(backend_url, "m"), n, warmup),
                "fake/m through woollama": await timed(post(woollama_url, "fake/m"), n, warmup),
                "woollama/plain (1 turn)": await timed(
                    post(woollama_url, "woollama/plain"), n, warmup
                ),
                "woollama/counter (2 turns + 1 tool)": await timed(
                    post(woollama_url, "woollama/counter"), n, warmup
                ),
            }


def report(tools: dict[str, list[float]], turns: dict[str, list[float]], command: str) -> str:
    med = {k: statistics.median(v) for k, v in {**tools, **turns}.items()}
    lines = [SECTION, "", f"Produced by `{command}`.", "",
             "| what | p50 ms | p99 ms |", "|---|---|---|"]  # fmt: skip
    for name, samples in {**tools, **turns}.items():
        lines.append(f"| {name} | {p(samples, 0.5):.3f} | {p(samples, 0.99):.3f} |")
    tool_added = med["woollama registry"] - med["MCP SDK, direct"]
    backend = med["backend, direct"]
    plain_added = med["woollama/plain (1 turn)"] - backend
    counter_added = (
        med["woollama/counter (2 turns + 1 tool)"] - 2 * backend - med["MCP SDK, direct"]
    ) / 2
    lines += [
        "",
        f"- Tool call added by the registry: **{tool_added:+.3f} ms** p50 "
        f"(target ≤ 1 ms: {'met' if tool_added <= 1.0 else 'NOT met'}).",
        f"- Recipe turn without tools, over the backend's own time: **{plain_added:+.3f} ms** "
        f"(includes the HTTP hop into woollama).",
        f"- Per turn of a tool-calling recipe, excluding backend and tool time: "
        f"**{counter_added:+.3f} ms** (target ≤ 2 ms: "
        f"{'met' if counter_added <= 2.0 else 'NOT met'}).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = ap.parse_args()
    n, warmup = (100, 20) if args.quick else (500, 50)
    command = ".venv/bin/python bench/recipes.py" + (" --quick" if args.quick else "")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        tools = runner.run(tool_calls(n, warmup))
        turns = runner.run(recipe_turns(n, warmup))
    section = report(tools, turns, command)
    print(section)
    write_section(args.out, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
