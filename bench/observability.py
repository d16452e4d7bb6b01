"""What the access log and metrics cost a pass-through: on against both off.

Usage (from the repo root): ``.venv/bin/python bench/observability.py [--quick]``

Two woollamas share one fast fake backend (``bench/fake_backend.py``): one as it runs
by default (access log to its log file, Prometheus metrics), one with
``WOOLLAMA_ACCESS_LOG=0 WOOLLAMA_METRICS=0``. Rounds alternate between them (and
which goes first), so load from other work on the machine hits both alike; each
round measures sequential latency and a concurrency-16 window with the server's CPU
time. It writes (or replaces) an "Observability" section in docs/benchmarks.md, ahead
of "Recipes and tools".
"""

from __future__ import annotations

import argparse
import datetime as dt
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import load
import procs
import uvloop
from load import Samples, Target, Throughput
from procs import REPO
from report import write_section

SECTION = "## Observability"
NEXT_SECTION = "## Recipes and tools"
CONCURRENCY = 16
OFF = "both off"
QUIET = {"WOOLLAMA_ACCESS_LOG": "0", "WOOLLAMA_METRICS": "0"}
ON = "access log + metrics on"


@dataclass
class Row:
    seq: Samples = field(default_factory=Samples)
    conc: Throughput | None = None


def start_backend(pg: procs.Procs) -> int:
    argv = [sys.executable, str(procs.BENCH_DIR / "fake_backend.py"), "--max-seconds", "900"]
    p, log = pg.start("fake_backend", argv, procs.clean_env())
    procs.wait_until(lambda: "LISTENING" in log.read_text(), 10.0, p, log, "fake backend")
    host, port = log.read_text().split("LISTENING", 1)[1].split()[0].rsplit(":", 1)
    procs.require_loopback(host)
    return int(port)


def start_woollama(
    pg: procs.Procs, root: Path, name: str, backend_port: int, extra: dict[str, str]
) -> tuple[int, Target]:
    cfg, run, state = root / "config", root / "run", root / "state"
    for d in (cfg, run, state):
        d.mkdir(mode=0o700, parents=True)
    (cfg / "inferencers.toml").write_text(
        f'[inferencers.fake]\nbase_url = "http://127.0.0.1:{backend_port}/v1"\nmodels = ["m"]\n'
    )
    (cfg / "mcp.json").write_text('{"mcpServers": {}}')
    env = procs.clean_env(
        WOOLLAMA_CONFIG_DIR=str(cfg),
        XDG_RUNTIME_DIR=str(run),
        WOOLLAMA_STATE_DIR=str(state),
        **extra,
    )
    p, log = pg.start(name, [sys.executable, "-m", "woollama"], env)
    addr, sock = run / "woollama.addr", run / "woollama.sock"

    def ready() -> bool:
        try:
            return ":" in addr.read_text() and stat.S_ISSOCK(sock.stat().st_mode)
        except OSError:
            return False

    procs.wait_until(ready, 20.0, p, log, name)
    host, port = addr.read_text().strip().rsplit(":", 1)
    procs.require_loopback(host)
    procs.wait_until(
        lambda: procs.http_status(host, int(port), "/v1/models") is not None, 10.0, p, log, name
    )
    return p.pid, Target(name, f"http://{host}:{port}/v1", "fake/m")


async def measure(
    targets: dict[str, tuple[int, Target]], rounds: int, seq: int, seconds: float
) -> dict[str, Row]:
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
                s = await load.sequential(post[name], seq, 0)
                rows[name].seq.values.extend(s.values)
            for name in order:
                pid = targets[name][0]
                tp = await load.concurrent(
                    post[name],
                    CONCURRENCY,
                    seconds,
                    10**7,
                    cpu=lambda p=pid: procs.cpu_seconds(p),
                    machine=procs.machine_busy_seconds,
                )
                row = rows[name]
                row.conc = tp if row.conc is None else row.conc.merge(tp)
            print(f"  round {round_ + 1}/{rounds} done", flush=True)
    finally:
        for s in sessions.values():
            await s.close()
    return rows


def report(rows: dict[str, Row], command: str, counts: str, load_before: str) -> str:
    off, on = rows[OFF], rows[ON]
    assert off.conc is not None and on.conc is not None
    added = on.seq.pct(50) - off.seq.pct(50)
    drop = 1 - on.conc.rps / off.conc.rps
    cpu = on.conc.cpu_us_per_request - off.conc.cpu_us_per_request
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Produced by `{command}` on {when}; {counts}. Load average at the start: "
        f"{load_before} (other work shared the two cores, hence interleaved rounds).",
        "",
        "Two woollamas on one fake backend, over TCP: one as it runs by default (an access "
        "line per request to its log, Prometheus metrics), one with `WOOLLAMA_ACCESS_LOG=0 "
        "WOOLLAMA_METRICS=0`.",
        "",
        "| woollama | seq p50 ms | seq p90 ms | c=16 req/s | c=16 p50 ms | server CPU µs/req |",
        "|---|---|---|---|---|---|",
    ]
    for name in (OFF, ON):
        row = rows[name]
        assert row.conc is not None
        lines.append(
            f"| {name} | {row.seq.pct(50):.3f} | {row.seq.pct(90):.3f} | {row.conc.rps:.0f} | "
            f"{row.conc.latency.pct(50):.3f} | {row.conc.cpu_us_per_request:.0f} |"
        )
    met = "met" if added <= 0.6 else "NOT met"
    met_tp = "met" if drop <= 0.05 else "NOT met"
    lines += [
        "",
        f"- Target: added latency p50 ≤ 0.6 ms: **{added:+.3f} ms**, {met}.",
        f"- Target: c=16 throughput drop ≤ 5%: **{drop * 100:+.1f}%**, {met_tp} "
        f"(server CPU {cpu:+.0f} µs per request, the figure least bent by other load).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument(
        "--on-env", type=lambda t: dict(p.split("=", 1) for p in t.split()), default={},
        help="extra variables for the 'on' woollama (to price one part: 'WOOLLAMA_METRICS=0')",
    )  # fmt: skip
    args = ap.parse_args()
    rounds, seq, seconds = (2, 200, 1.0) if args.quick else (6, 1000, 2.0)
    command = ".venv/bin/python bench/observability.py" + (" --quick" if args.quick else "")
    counts = (
        f"{rounds} rounds, each {seq} sequential requests and {seconds:g} s at concurrency "
        f"{CONCURRENCY} per woollama"
    )
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with (
        tempfile.TemporaryDirectory(prefix="woollama-bench-obs-") as tmp,
        procs.Procs(Path(tmp)) as pg,
    ):
        port = start_backend(pg)
        targets = {
            OFF: start_woollama(pg, Path(tmp) / "off", "off", port, QUIET),
            ON: start_woollama(pg, Path(tmp) / "on", "on", port, args.on_env),
        }
        time.sleep(0.5)  # let both finish starting before anything is timed
        rows = uvloop.run(measure(targets, rounds, seq, seconds))
        logged = (Path(tmp) / "on.log").read_text().count("woollama.access")
        assert logged > 0 or args.on_env, "the 'on' woollama wrote no access lines"
    section = report(rows, command, counts, load_before)
    print(section)
    if not args.on_env:  # a priced part is for the console, not the report
        write_section(args.out, section, before=NEXT_SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
