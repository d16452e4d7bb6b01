"""Two woollama builds side by side: CPU per pass-through request, interleaved.

Usage (repo root): ``.venv/bin/python bench/ab.py --base SRC [--rounds 6]``, where
SRC is the ``src`` folder of another checkout (for instance an export of the last
commit before a change: ``git archive HEAD src | tar -x -C /tmp/base``). Both
builds run as ``python -m woollama`` on one fake backend, the base one with
``PYTHONPATH=SRC``, with the same config (no MCP servers). Rounds alternate which
goes first; each round measures sequential latency and a concurrency-16 window,
over TCP and over the socket, with the server's CPU time split into user and
system time (from /proc/<pid>/stat). With the machine shared, CPU per request is
the figure to read: other load moves req/s, much less the CPU a request costs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import load
import procs
import run
import uvloop
from load import Samples, Target
from report import loadavg

TICKS = procs._TICKS


def user_sys(pid: int) -> tuple[float, float]:
    user = system = 0
    for p in procs.descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / TICKS, system / TICKS


@dataclass
class Row:
    seq: Samples = field(default_factory=Samples)
    requests: int = 0
    seconds: float = 0.0
    user: float = 0.0
    system: float = 0.0


def start(
    pg: procs.Procs, root: Path, name: str, backend_port: int, src: Path | None
) -> tuple[int, list[Target]]:
    cfg, run_dir, state = root / name / "config", root / name / "run", root / name / "state"
    for d in (cfg, run_dir, state):
        d.mkdir(mode=0o700, parents=True)
    (cfg / "inferencers.toml").write_text(
        f'[inferencers.fake]\nbase_url = "http://127.0.0.1:{backend_port}/v1"\nmodels = ["m"]\n'
    )
    (cfg / "mcp.json").write_text('{"mcpServers": {}}')
    env = procs.clean_env(
        WOOLLAMA_CONFIG_DIR=str(cfg), XDG_RUNTIME_DIR=str(run_dir), WOOLLAMA_STATE_DIR=str(state)
    )
    if src is not None:
        env["PYTHONPATH"] = str(src)
    p, log = pg.start(name, [sys.executable, "-m", "woollama"], env)
    addr, sock = run_dir / "woollama.addr", run_dir / "woollama.sock"
    procs.wait_until(lambda: addr.exists() and sock.exists(), 20.0, p, log, name)
    host, port = addr.read_text().strip().rsplit(":", 1)
    procs.wait_until(
        lambda: procs.http_status(host, int(port), "/v1/models") is not None, 10.0, p, log, name
    )
    return p.pid, [
        Target(f"{name} TCP", f"http://{host}:{port}/v1", run.MODEL),
        Target(f"{name} socket", "http://localhost/v1", run.MODEL, uds=str(sock)),
    ]


async def measure(builds: dict[str, tuple[int, list[Target]]], rounds: int) -> dict[str, Row]:
    targets = [(pid, t) for pid, ts in builds.values() for t in ts]
    rows = {t.name: Row() for _, t in targets}
    sessions = {t.name: load.aiohttp_session(t) for _, t in targets}
    try:
        post = {
            t.name: load.aiohttp_post(
                sessions[t.name], t.chat_url, load.chat_body(t.model, False), t.headers
            )
            for _, t in targets
        }
        for _, t in targets:
            await load.sequential(post[t.name], 0, 300)
        for round_ in range(rounds):
            order = targets if round_ % 2 == 0 else targets[::-1]
            for pid, t in order:
                row = rows[t.name]
                row.seq.values.extend((await load.sequential(post[t.name], 500, 0)).values)
                user0, sys0 = user_sys(pid)
                tp = await load.concurrent(post[t.name], run.CONCURRENCY, 2.0, 10**7)
                user1, sys1 = user_sys(pid)
                row.requests += tp.requests
                row.seconds += tp.seconds
                row.user += user1 - user0
                row.system += sys1 - sys0
            print(f"  round {round_ + 1}/{rounds} done", flush=True)
    finally:
        for s in sessions.values():
            await s.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="src/ of the build to compare")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    if not (args.base / "woollama" / "__init__.py").exists():
        print(f"{args.base} holds no woollama package")
        return 1
    before = loadavg()
    root = Path(tempfile.mkdtemp(prefix="wl-ab-"))
    (root / "logs").mkdir()
    with procs.Procs(root / "logs") as pg:
        _, port = run.start_backend(pg)
        builds = {
            "base": start(pg, root, "base", port, args.base.resolve()),
            "this": start(pg, root, "this", port, None),
        }
        rows = uvloop.run(measure(builds, args.rounds))
    print(f"\nload average at the start: {before}; {args.rounds} rounds, interleaved\n")
    print("| build, transport | seq p50 ms | c=16 req/s | CPU µs/req | user µs | system µs |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        n = row.requests or 1
        print(
            f"| {name} | {row.seq.pct(50):.3f} | {row.requests / row.seconds:.0f} | "
            f"{(row.user + row.system) / n * 1e6:.0f} | {row.user / n * 1e6:.0f} | "
            f"{row.system / n * 1e6:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
