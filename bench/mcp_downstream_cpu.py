"""CPU per `tools/call` of woollama's downstream leg alone: SDK transport vs the lean one.

    .venv/bin/python bench/mcp_downstream_cpu.py [--calls 400] [--era handshake|modern]

Starts examples/textops.py --http, then in this process calls `uppercase` through
`mcp.Client` over each transport and reports process CPU time per call (the server's
CPU is in its own process, so it is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from woollama.tools.streamable_http import lean_origin, lean_streamable_http

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_up(url: str) -> None:
    async with httpx2.AsyncClient() as http:
        for _ in range(200):
            try:
                await http.get(url)
                return
            except httpx2.TransportError:
                await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


async def _measure(transport: object, calls: int, mode: str | None) -> float:
    kwargs = {"mode": mode} if mode else {}
    async with Client(transport, **kwargs) as client:  # type: ignore[arg-type]
        for _ in range(50):  # warm up
            await client.call_tool("uppercase", {"text": "hello"})
        start = time.process_time()
        for _ in range(calls):
            await client.call_tool("uppercase", {"text": "hello"})
        return (time.process_time() - start) / calls * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--mode", default=None, help="Client mode (default: the SDK's)")
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [sys.executable, str(ROOT / "examples/textops.py"), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        await _wait_up(url)
        origin = lean_origin(url)
        assert origin is not None
        for _ in range(2):
            async with create_mcp_http_client() as http:
                sdk = await _measure(streamable_http_client(url, http_client=http), args.calls,
                                     args.mode)  # fmt: skip
            lean = await _measure(lean_streamable_http(url, origin), args.calls, args.mode)
            print(f"CPU per tools/call, client side: SDK {sdk:.3f} ms, lean {lean:.3f} ms")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
