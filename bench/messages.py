"""What `/v1/messages` adds over `/v1/chat/completions` to the same fast local backend.

Usage (repo root): ``.venv/bin/python bench/messages.py [--quick]``

It starts the benchmark's fake OpenAI-compatible backend (``bench/fake_backend.py``)
and one woollama on loopback, then times the same question asked both ways through
woollama with one aiohttp client: non-streamed (whole answer) and streamed (time to
the first body bytes, i.e. the first chunk or the first Messages event, and to the
end). The two routes are interleaved in rounds so machine drift hits both alike. The
difference is the cost of Anthropic translation both ways. It prints a Markdown table;
it writes no file. Everything it started is stopped when it ends, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import procs
import uvloop
from run import start_backend

TARGET_POST_MS = 0.3
TARGET_FIRST_MS = 0.5
ROUNDS = 4

Timed = Callable[[], Awaitable[tuple[float, float]]]  # (first bytes, whole answer) seconds


def _body(stream: bool) -> bytes:
    # The same JSON is a valid request on both routes (max_tokens is required on
    # /v1/messages), so only the route differs. Serialised once, outside the timing.
    return json.dumps({"model": "fake/m", "max_tokens": 64, "stream": stream,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()  # fmt: skip


def _request(session: aiohttp.ClientSession, url: str, body: bytes, end: bytes) -> Timed:
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}

    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = 0.0
        tail = b""
        async with session.post(url, data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
            async for chunk in response.content.iter_any():
                if not first:
                    first = time.perf_counter() - t0
                tail = (tail + chunk)[-64:]
        if end not in tail:
            raise RuntimeError(f"{url}: the answer did not end as expected ({tail!r})")
        return first, time.perf_counter() - t0

    return once


async def _measure(address: str, n: int, warmup: int) -> dict[str, tuple[list[float], ...]]:
    connector = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        chat_url = f"http://{address}/v1/chat/completions"
        messages_url = f"http://{address}/v1/messages"
        rows: dict[str, Timed] = {
            "chat, whole": _request(session, chat_url, _body(False), b"}"),
            "messages, whole": _request(session, messages_url, _body(False), b"}"),
            "chat, streamed": _request(session, chat_url, _body(True), b"[DONE]"),
            "messages, streamed": _request(session, messages_url, _body(True), b"message_stop"),
        }
        for once in rows.values():
            for _ in range(warmup):
                await once()
        out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in rows}
        for _ in range(ROUNDS):
            for name, once in rows.items():
                for _ in range(n // ROUNDS):
                    first, whole = await once()
                    out[name][0].append(first)
                    out[name][1].append(whole)
        return out


def _p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def report(results: dict[str, tuple[list[float], ...]], command: str) -> str:
    lines = [f"Produced by `{command}`.", "",
             "| route | p50 first bytes ms | p50 whole ms |", "|---|---|---|"]  # fmt: skip
    for name, (first, whole) in results.items():
        lines.append(f"| {name} | {_p50_ms(first):.3f} | {_p50_ms(whole):.3f} |")
    post = _p50_ms(results["messages, whole"][1]) - _p50_ms(results["chat, whole"][1])
    first = _p50_ms(results["messages, streamed"][0]) - _p50_ms(results["chat, streamed"][0])
    whole = _p50_ms(results["messages, streamed"][1]) - _p50_ms(results["chat, streamed"][1])
    lines += [
        "",
        f"- Added p50, non-streaming: **{post:+.3f} ms** "
        f"(target ≤ {TARGET_POST_MS} ms: {'met' if post <= TARGET_POST_MS else 'NOT met'}).",
        f"- Added p50 to the first streamed event: **{first:+.3f} ms** "
        f"(target ≤ {TARGET_FIRST_MS} ms: {'met' if first <= TARGET_FIRST_MS else 'NOT met'}).",
        f"- Added p50 to the end of a 50-chunk stream: {whole:+.3f} ms.",
    ]
    return "\n".join(lines)


async def run(n: int, warmup: int) -> dict[str, tuple[list[float], ...]]:
    with tempfile.TemporaryDirectory(prefix="woollama-bench-") as tmp, procs.Procs(Path(tmp)) as pg:
        root = Path(tmp)
        _, port = start_backend(pg)
        cfg, run_dir = root / "config", root / "run"
        cfg.mkdir()
        run_dir.mkdir()
        (cfg / "inferencers.toml").write_text(
            f'[inferencers.fake]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
        )
        env = procs.clean_env(WOOLLAMA_CONFIG_DIR=str(cfg), XDG_RUNTIME_DIR=str(run_dir),
                              WOOLLAMA_STATE_DIR=str(root / "state"))  # fmt: skip
        woollama, log = pg.start("woollama", [sys.executable, "-m", "woollama"], env)
        addr = run_dir / "woollama.addr"
        procs.wait_until(lambda: addr.exists() and ":" in addr.read_text(), 20.0, woollama,
                         log, "woollama.addr")  # fmt: skip
        address = addr.read_text().strip()
        host, _, bound = address.rpartition(":")
        procs.require_loopback(host)
        procs.wait_until(lambda: procs.http_status(host, int(bound), "/v1/models") is not None,
                         10.0, woollama, log, "woollama HTTP")  # fmt: skip
        return await _measure(address, n, warmup)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, warmup = (400, 40) if args.quick else (2000, 200)
    command = ".venv/bin/python bench/messages.py" + (" --quick" if args.quick else "")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(run(n, warmup))
    print(report(results, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
