"""The inbound HTTP server, measured: uvicorn (as woollama serves) against granian.

Usage (repo root): ``.venv/bin/python bench/servers.py [--rounds 3]``. granian is
not one of woollama's dependencies (it lost on these numbers); install it into the
venv for this run only: ``.venv/bin/uv pip install --python .venv/bin/python
granian==2.8.7``.

Three servers of the same woollama app, on one fake backend, over TCP:

- ``uvicorn``: ``python -m woollama`` as shipped (uvicorn, httptools, uvloop);
- ``granian embedded``: granian's server inside woollama's own event loop
  (``granian.server.embed``), the one way it could keep serving the socket and the
  port from one process with one lifespan;
- ``granian worker``: the ``granian`` command with one worker process, its
  single-threaded Rust runtime and uvloop.

Rounds alternate between them; each measures sequential latency and a
concurrency-16 window with the server's CPU time (user and system, from /proc). It
prints a table for docs/benchmarks.md ("Inbound server: uvicorn against granian").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import load
import procs
import run
import uvloop
from load import Samples, Target, Throughput

HERE = Path(__file__).resolve().parent


def make_app() -> object:
    """granian's factory: the app as woollama builds it."""
    from woollama.config.loader import load_config
    from woollama.server.app import ServerSettings, create_app

    return create_app(load_config(), ServerSettings())


async def _embedded(port: int) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    server = Server(
        make_app(),
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        log_enabled=False,
    )
    await server.serve()


@dataclass
class Row:
    seq: Samples = field(default_factory=Samples)
    conc: Throughput | None = None


def env_for(root: Path, backend_port: int) -> dict[str, str]:
    cfg, run_dir, state = root / "config", root / "run", root / "state"
    for d in (cfg, run_dir, state):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    (cfg / "inferencers.toml").write_text(
        f'[inferencers.fake]\nbase_url = "http://127.0.0.1:{backend_port}/v1"\nmodels = ["m"]\n'
    )
    (cfg / "mcp.json").write_text('{"mcpServers": {}}')
    return procs.clean_env(
        WOOLLAMA_CONFIG_DIR=str(cfg),
        XDG_RUNTIME_DIR=str(run_dir),
        WOOLLAMA_STATE_DIR=str(state),
        PYTHONPATH=str(HERE),
    )


def start(pg: procs.Procs, root: Path, name: str, backend_port: int) -> tuple[int, Target]:
    env = env_for(root / name.replace(" ", "-"), backend_port)
    port = procs.free_port()
    if name == "uvicorn":
        env["WOOLLAMA_ADDRESS"] = f"127.0.0.1:{port}"
        argv = [sys.executable, "-m", "woollama"]
    elif name == "granian embedded":
        argv = [sys.executable, str(HERE / "servers.py"), "--embedded", str(port)]
    else:
        argv = [str(Path(sys.executable).parent / "granian"), "--interface", "asgi",
                "--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--loop", "uvloop", "--runtime-mode", "st", "--http", "1", "--no-ws",
                "--log-level", "warning", "servers:make_app"]  # fmt: skip
    p, log = pg.start(name.replace(" ", "-"), argv, env)
    procs.wait_until(
        lambda: procs.http_status("127.0.0.1", port, "/v1/models") is not None,
        30.0,
        p,
        log,
        name,
    )
    return p.pid, Target(name, f"http://127.0.0.1:{port}/v1", run.MODEL)


async def measure(targets: dict[str, tuple[int, Target]], rounds: int) -> dict[str, Row]:
    rows = {name: Row() for name in targets}
    sessions = {name: load.aiohttp_session(t) for name, (_, t) in targets.items()}
    try:
        post = {
            name: load.aiohttp_post(
                sessions[name], t.chat_url, load.chat_body(t.model, False), t.headers
            )
            for name, (_, t) in targets.items()
        }
        for name in targets:
            await load.sequential(post[name], 0, 300)
        names = list(targets)
        for round_ in range(rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                s = await load.sequential(post[name], 500, 0)
                rows[name].seq.values.extend(s.values)
                pid = targets[name][0]
                tp = await load.concurrent(
                    post[name], 16, 2.0, 10**7, cpu=lambda p=pid: procs.cpu_seconds(p)
                )
                row = rows[name]
                row.conc = tp if row.conc is None else row.conc.merge(tp)
            print(f"  round {round_ + 1}/{rounds} done", flush=True)
    finally:
        for s in sessions.values():
            await s.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--embedded", type=int, help=argparse.SUPPRESS)  # the child's own entry
    args = ap.parse_args()
    if args.embedded:
        uvloop.run(_embedded(args.embedded))
        return 0
    try:
        import granian  # noqa: F401
    except ImportError:
        print(__doc__.split("\n\n")[1])
        return 1
    root = Path(tempfile.mkdtemp(prefix="wl-servers-"))
    (root / "logs").mkdir()
    os.environ.update(procs.clean_env())
    with procs.Procs(root / "logs") as pg:
        _, port = run.start_backend(pg)
        targets = {
            name: start(pg, root, name, port)
            for name in ("uvicorn", "granian embedded", "granian worker")
        }
        rows = uvloop.run(measure(targets, args.rounds))
    print("\n| server | seq p50 ms | seq p99 ms | c=16 req/s | server CPU µs/req |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        c = row.conc
        assert c is not None
        print(
            f"| {name} | {row.seq.pct(50):.3f} | {row.seq.pct(99):.3f} | {c.rps:.0f} | "
            f"{c.cpu_us_per_request:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
