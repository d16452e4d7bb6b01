"""Pooling: what the gate costs un-contended, and what it buys under contention.

Usage (repo root): ``.venv/bin/python bench/pool.py [--quick]``. It writes (or replaces)
a "Pooling" section in docs/benchmarks.md, ahead of "Recipes and tools".

1. Gate overhead: a pooled provider's `open` + `aclose` on a resident model with a
   free slot, against the same provider unpooled; the provider underneath answers at
   once without I/O, so the difference is the gate (virtual names, capability check,
   acquire, release).
2. Contention: 16 clients over 3 models (each client keeps to one model) against a
   fake Ollama device that holds 2 models, loads one in 200 ms and evicts the least
   recently used, killing its requests in flight, as a full box does. Through the gate
   (`pool_max = 2`) and through a naive pass-through of the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from report import write_section

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakes.device import FakeOllamaDevice  # noqa: E402
from woollama.config.models import InferencerConfig  # noqa: E402
from woollama.providers.base import NO_HEADERS  # noqa: E402
from woollama.providers.openai_compat import OpenAICompatProvider  # noqa: E402
from woollama.routing.pool.gate import Gate, Limits  # noqa: E402
from woollama.routing.pool.management import Management, Resident  # noqa: E402
from woollama.routing.pool.provider import PooledProvider  # noqa: E402
from woollama.routing.pool.residency import Residency  # noqa: E402

SECTION = "## Pooling"
NEXT_SECTION = "## Recipes and tools"
TARGET_US = 20.0
BODY = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}


class _Answer:
    status = 200
    content_type = "application/json"
    headers = NO_HEADERS

    async def read(self) -> bytes:
        return b"{}"

    async def iter_bytes(self) -> Any:
        yield b"{}"

    async def aclose(self) -> None:
        return None


class _Instant:
    """A provider that answers at once: what is left to measure is the wrapper."""

    name = "box"

    async def list_models(self) -> list[str]:
        return []

    def unavailable(self) -> str | None:
        return None

    async def open(self, endpoint: str, body: dict[str, Any]) -> _Answer:
        return _Answer()

    async def aclose(self) -> None:
        return None


def _config(**pool: Any) -> InferencerConfig:
    return InferencerConfig(base_url="http://127.0.0.1:9/v1", **pool)


async def _per_call(provider: Any, n: int) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        upstream = await provider.open("/chat/completions", dict(BODY))
        await upstream.aclose()
        samples.append((clock() - start) / 1000)
    return samples


async def gate_overhead(n: int) -> tuple[float, float, float, float]:
    """(unpooled p50, pooled p50, pooled p99, pooled CPU µs/call) in µs."""
    config = _config(management_url="http://127.0.0.1:9", pool_max=2, parallel=4,
                     capabilities={"embedding": ["*embed*"]})  # fmt: skip
    management = Management("http://127.0.0.1:9", "ollama", {})
    gate = Gate(management, Residency(management), Limits(4, 2, None, 30.0))
    gate.residency._value = {"m1": Resident("m1")}  # resident, as a read would say
    gate._learn({"m1": Resident("m1")})
    plain, pooled = _Instant(), PooledProvider(_Instant(), config, gate)  # type: ignore[arg-type]
    await _per_call(plain, n // 10)  # warm up both
    await _per_call(pooled, n // 10)
    base, gated = [], []
    cpu = 0.0
    for _ in range(5):  # interleaved rounds, so a neighbour's load hits both alike
        base += await _per_call(plain, n // 5)
        start = time.process_time()
        gated += await _per_call(pooled, n // 5)
        cpu += time.process_time() - start
    await management.aclose()
    gated.sort()
    return (statistics.median(base), statistics.median(gated), gated[int(len(gated) * 0.99)],
            cpu / n * 1e6)  # fmt: skip


async def contention(pooled: bool, seconds: float) -> dict[str, Any]:
    with FakeOllamaDevice(memory=2, load_delay=0.2, infer_delay=0.05) as device:
        config = _config(management_url=device.origin, management_protocol="ollama",
                         pool_max=2, parallel=4, queue_timeout=30)  # fmt: skip
        config = config.model_copy(update={"base_url": device.base_url})
        inner = OpenAICompatProvider("box", config)
        provider: Any = inner
        gate = None
        if pooled:
            management = Management(device.origin, "ollama", {})
            gate = Gate(management, Residency(management), Limits(4, 2, None, 30.0))
            provider = PooledProvider(inner, config, gate)
        waits: list[float] = []
        outcomes: dict[str, list[bool]] = {"m1": [], "m2": [], "m3": []}
        deadline = time.monotonic() + seconds

        async def client(model: str) -> None:
            while time.monotonic() < deadline:
                start = time.monotonic()
                ok = False
                try:
                    upstream = await provider.open("/chat/completions", {**BODY, "model": model})
                    try:
                        await upstream.read()
                        ok = upstream.status == 200
                    finally:
                        await upstream.aclose()
                except Exception:  # a failed request is what is counted
                    ok = False
                waits.append(time.monotonic() - start)
                outcomes[model].append(ok)

        started = time.monotonic()
        await asyncio.gather(*(client(f"m{i % 3 + 1}") for i in range(16)))
        elapsed = time.monotonic() - started
        loads = len(device.state.loads)
        await provider.aclose()
        if gate is not None:
            await gate.aclose()
    total = sum(len(v) for v in outcomes.values())
    served = sum(sum(v) for v in outcomes.values())
    waits.sort()
    return {
        "requests": total,
        "served": served / total if total else 0.0,
        "per_model": {m: sum(v) for m, v in outcomes.items()},
        "swaps_per_min": loads / elapsed * 60,
        "p50": waits[len(waits) // 2] * 1000,
        "p99": waits[int(len(waits) * 0.99)] * 1000,
        "aborted": device.state.aborted,
    }


def report(overhead: tuple[float, float, float, float], runs: dict[str, dict[str, Any]],
           command: str) -> str:  # fmt: skip
    base, gated, gated99, cpu = overhead
    added = gated - base
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Produced by `{command}` on {when} (Python {sys.version.split()[0]}, in one process).",
        "",
        "### The gate on the hot path",
        "",
        "A pooled provider's `open` + `aclose` on a resident model with a free slot, against "
        "the same provider unpooled (the provider underneath answers at once, without I/O).",
        "",
        "| path | p50 µs |",
        "|---|---|",
        f"| unpooled | {base:.2f} |",
        f"| pooled (gate) | {gated:.2f} (p99 {gated99:.2f}, CPU {cpu:.2f} µs/call) |",
        "",
        f"- Target: the gate adds ≤ {TARGET_US:g} µs p50 un-contended: **+{added:.2f} µs**, "
        f"{'met' if added <= TARGET_US else 'NOT met'}.",
        "",
        "### 16 clients, 3 models, a device that holds 2 (200 ms load)",
        "",
        "Each client keeps to one model (6/5/5 clients); answers take 50 ms; the fake "
        "device (`tests/fakes/device.py`) evicts its least recently used model on a load, "
        "killing that model's requests in flight.",
        "",
        "| path | requests | served | per model (m1/m2/m3) | swaps/min | p50 ms | p99 ms "
        "| killed mid-answer |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, run in runs.items():
        per = "/".join(str(run["per_model"][m]) for m in ("m1", "m2", "m3"))
        lines.append(
            f"| {name} | {run['requests']} | {run['served']:.1%} | {per} | "
            f"{run['swaps_per_min']:.0f} | {run['p50']:.0f} | {run['p99']:.0f} | {run['aborted']} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = ap.parse_args()
    command = ".venv/bin/python bench/pool.py" + (" --quick" if args.quick else "")
    seconds = 5.0 if args.quick else 20.0
    overhead = uvloop.run(gate_overhead(20_000 if args.quick else 100_000))
    runs = {
        "through the gate (pool_max = 2, parallel = 4)": uvloop.run(contention(True, seconds)),
        "naive pass-through": uvloop.run(contention(False, seconds)),
    }
    section = report(overhead, runs, command)
    print(section)
    write_section(args.out, section, before=NEXT_SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
