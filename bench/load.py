"""Measurement helpers: one load-generating client (aiohttp) for every target.

Every row of the benchmark goes through the same client code, so differences between
rows are the targets' (direct backend, woollama over TCP, woollama over the Unix
socket, LiteLLM), not the client's. The httpx2 helpers exist only for the outbound
client comparison, which measures the client libraries themselves.

Every loop here is bounded by a request count and, for the concurrent runs, a
wall-clock deadline as well.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx2

HEADERS = {"content-type": "application/json"}
REQUEST_TIMEOUT = 30.0  # seconds; a stuck request fails the row instead of hanging


class BenchError(RuntimeError):
    """A target answered wrongly; the message says what came back."""


@dataclass(frozen=True)
class Target:
    """Where requests go: ``base_url`` ends in ``/v1``; ``uds`` routes it over a socket."""

    name: str
    base_url: str
    model: str
    uds: str | None = None
    api_key: str = "bench"  # woollama without WOOLLAMA_TOKEN ignores it; LiteLLM needs one

    @property
    def chat_url(self) -> str:
        return self.base_url + "/chat/completions"

    @property
    def headers(self) -> dict[str, str]:
        return {**HEADERS, "authorization": f"Bearer {self.api_key}"}


def chat_body(model: str, stream: bool) -> bytes:
    # Serialised once per row so JSON encoding is not part of what is measured.
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return json.dumps(body).encode()


def aiohttp_session(
    target: Target, limit: int = 64, trust_env: bool = False
) -> aiohttp.ClientSession:
    connector: aiohttp.BaseConnector
    if target.uds:
        connector = aiohttp.UnixConnector(path=target.uds, limit=limit)
    else:
        connector = aiohttp.TCPConnector(limit=limit)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        # Off: never route loopback traffic through a configured proxy. On only for the
        # client comparison, because aiohttp then resolves proxy settings from the
        # environment in a worker thread on every request, a cost worth recording.
        trust_env=trust_env,
    )


def httpx2_client(limit: int = 64) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        timeout=REQUEST_TIMEOUT,
        limits=httpx2.Limits(max_connections=limit, max_keepalive_connections=limit),
        trust_env=False,
    )


# --- single requests --------------------------------------------------------------
# Each returns its own timings so the runners below stay client-agnostic.

Once = Callable[[], Awaitable[float]]
StreamOnce = Callable[[], Awaitable[tuple[float, float]]]


def _first_content(line: bytes) -> bool:
    """True for an SSE data line whose delta carries non-empty content."""
    if not line.startswith(b"data:"):
        return False
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return False
    try:
        choices = json.loads(payload).get("choices") or [{}]
    except ValueError as e:
        raise BenchError(f"bad SSE line: {line[:200]!r}") from e
    return bool((choices[0].get("delta") or {}).get("content"))


def aiohttp_post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str] = HEADERS
) -> Once:
    async def once() -> float:
        t0 = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            data = await resp.read()
        dt = time.perf_counter() - t0
        if resp.status != 200:
            raise BenchError(f"POST {url} -> {resp.status}: {data[:300]!r}")
        return dt

    return once


def aiohttp_stream(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    expect_chunks: int,
    headers: dict[str, str] = HEADERS,
) -> StreamOnce:
    """Returns (time to first content chunk, time to end of stream) per request."""

    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = 0.0
        chunks = 0
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                raise BenchError(f"POST {url} -> {resp.status}: {(await resp.read())[:300]!r}")
            async for line in resp.content:  # bounded: the response is finite
                if not line.startswith(b"data:"):
                    continue
                if not first and _first_content(line):
                    first = time.perf_counter() - t0
                if line[5:].strip() == b"[DONE]":
                    break
                chunks += 1
        total = time.perf_counter() - t0
        # At least all of them: a proxy may add a closing chunk (LiteLLM does).
        if chunks < expect_chunks or not first:
            raise BenchError(f"stream from {url}: {chunks} chunks, expected {expect_chunks}+")
        return first, total

    return once


def aiohttp_stream_raw(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    expect_chunks: int,
    headers: dict[str, str] = HEADERS,
) -> StreamOnce:
    """Bytes as they arrive, as a pass-through relay consumes them (no line splitting)."""

    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = 0.0
        parts: list[bytes] = []
        async with session.post(url, data=body, headers=headers) as resp:
            async for data in resp.content.iter_any():
                if not first:
                    first = time.perf_counter() - t0
                parts.append(data)
        total = time.perf_counter() - t0
        _check_raw(url, resp.status, parts, expect_chunks)
        return first, total

    return once


def httpx2_post(
    client: httpx2.AsyncClient, url: str, body: bytes, headers: dict[str, str] = HEADERS
) -> Once:
    async def once() -> float:
        t0 = time.perf_counter()
        resp = await client.post(url, content=body, headers=headers)
        dt = time.perf_counter() - t0
        if resp.status_code != 200:
            raise BenchError(f"POST {url} -> {resp.status_code}: {resp.content[:300]!r}")
        return dt

    return once


def httpx2_stream(
    client: httpx2.AsyncClient,
    url: str,
    body: bytes,
    expect_chunks: int,
    headers: dict[str, str] = HEADERS,
) -> StreamOnce:
    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = 0.0
        chunks = 0
        async with client.stream("POST", url, content=body, headers=headers) as resp:
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                if not first and _first_content(line.encode()):
                    first = time.perf_counter() - t0
                if line[5:].strip() == "[DONE]":
                    break
                chunks += 1
        total = time.perf_counter() - t0
        if resp.status_code != 200 or chunks < expect_chunks or not first:
            raise BenchError(f"stream from {url}: status {resp.status_code}, {chunks} chunks")
        return first, total

    return once


def httpx2_stream_raw(
    client: httpx2.AsyncClient,
    url: str,
    body: bytes,
    expect_chunks: int,
    headers: dict[str, str] = HEADERS,
) -> StreamOnce:
    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = 0.0
        parts: list[bytes] = []
        async with client.stream("POST", url, content=body, headers=headers) as resp:
            async for data in resp.aiter_raw():
                if not first:
                    first = time.perf_counter() - t0
                parts.append(data)
        total = time.perf_counter() - t0
        _check_raw(url, resp.status_code, parts, expect_chunks)
        return first, total

    return once


def http1_post(pool: Any, endpoint: str, body: bytes) -> Once:
    """woollama's own client (`providers/http1.Http1Pool`), as the pass-through uses it."""

    async def once() -> float:
        t0 = time.perf_counter()
        resp = await pool.post(endpoint, body, HEADERS)
        data = await resp.read()
        dt = time.perf_counter() - t0
        if resp.status != 200:
            raise BenchError(f"POST {endpoint} -> {resp.status}: {data[:300]!r}")
        return dt

    return once


def http1_stream_raw(pool: Any, endpoint: str, body: bytes, expect_chunks: int) -> StreamOnce:
    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = 0.0
        parts: list[bytes] = []
        resp = await pool.post(endpoint, body, HEADERS)
        try:
            async for data in resp.iter_bytes():
                if not first:
                    first = time.perf_counter() - t0
                parts.append(data)
        finally:
            await resp.aclose()
        total = time.perf_counter() - t0
        _check_raw(endpoint, resp.status, parts, expect_chunks)
        return first, total

    return once


def _check_raw(url: str, status: int, parts: list[bytes], expect_chunks: int) -> None:
    data = b"".join(parts)
    # +1 for the closing "data: [DONE]" event.
    if status != 200 or data.count(b"data:") != expect_chunks + 1:
        raise BenchError(f"raw stream from {url}: status {status}, {data[:200]!r}")


# --- runners ------------------------------------------------------------------------


@dataclass
class Samples:
    """Latencies in seconds; percentiles are reported in milliseconds."""

    values: list[float] = field(default_factory=list)

    def pct(self, p: float) -> float:
        """Nearest-rank percentile in ms (no interpolation: p99 is a real sample)."""
        if not self.values:
            return math.nan
        s = sorted(self.values)
        k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
        return s[k] * 1000.0


async def sequential(once: Once, n: int, warmup: int) -> Samples:
    for _ in range(warmup):
        await once()
    out = Samples()
    for _ in range(n):
        out.values.append(await once())
    return out


async def sequential_stream(once: StreamOnce, n: int, warmup: int) -> tuple[Samples, Samples]:
    for _ in range(warmup):
        await once()
    first, total = Samples(), Samples()
    for _ in range(n):
        f, t = await once()
        first.values.append(f)
        total.values.append(t)
    return first, total


@dataclass
class Throughput:
    requests: int
    errors: int
    seconds: float
    latency: Samples
    cpu_s: float = math.nan  # CPU time the server under test spent in the window
    client_cpu_s: float = math.nan  # CPU time this load-generating process spent
    machine_s: float = math.nan  # busy CPU time of the whole machine (all processes)

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else math.nan

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu_s / self.requests * 1e6 if self.requests else math.nan

    def merge(self, other: Throughput) -> Throughput:
        """Add up rounds of the same row (run interleaved with the other targets)."""
        return Throughput(
            self.requests + other.requests,
            self.errors + other.errors,
            self.seconds + other.seconds,
            Samples(self.latency.values + other.latency.values),
            self.cpu_s + other.cpu_s,
            self.client_cpu_s + other.client_cpu_s,
            self.machine_s + other.machine_s,
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else math.nan


async def concurrent(
    once: Once,
    workers: int,
    duration: float,
    max_requests: int,
    warmup: float = 0.3,
    cpu: Callable[[], float] | None = None,
    machine: Callable[[], float] | None = None,
) -> Throughput:
    """``workers`` closed-loop clients until ``duration`` s or ``max_requests`` in total.

    A short warm-up run first opens the connections, so connection set-up is not
    counted in the measured window. ``cpu`` reads the server's CPU seconds: on a
    shared 2-core machine, CPU per request is the figure least bent by the other
    processes (req/s depends on how the cores are split between client and server).
    """

    async def run(seconds: float, cap: int, lat: Samples | None) -> tuple[int, int]:
        deadline = time.perf_counter() + seconds
        done = errors = 0

        async def worker() -> None:
            nonlocal done, errors
            while done + errors < cap and time.perf_counter() < deadline:
                try:
                    dt = await once()
                except (BenchError, aiohttp.ClientError, httpx2.HTTPError, TimeoutError):
                    errors += 1
                    continue
                done += 1
                if lat is not None:
                    lat.values.append(dt)

        await asyncio.gather(*(worker() for _ in range(workers)))
        return done, errors

    await run(warmup, max_requests, None)
    lat = Samples()
    cpu0 = cpu() if cpu else math.nan
    box0 = machine() if machine else math.nan
    own0 = time.process_time()
    t0 = time.perf_counter()
    done, errors = await run(duration, max_requests, lat)
    elapsed = time.perf_counter() - t0
    own = time.process_time() - own0
    cpu_s = cpu() - cpu0 if cpu else math.nan
    box = machine() - box0 if machine else math.nan
    return Throughput(done, errors, elapsed, lat, cpu_s, own, box)
