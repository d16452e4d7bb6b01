"""Where a pass-through request's CPU goes: py-spy over woollama at concurrency 16.

Usage (repo root): ``.venv/bin/python bench/profile.py [--seconds 20] [--socket]``
(or ``make profile``). It starts the fake backend and woollama as ``bench/run.py``
does, drives concurrency-16 non-streaming pass-through requests at it, and samples
woollama's main thread with py-spy meanwhile (``--nonblocking``, so the sampling does
not pause the process). Each sample is charged to the innermost frame that belongs to
one of the stages below, walking out from the leaf: a ``json.loads`` called by the
body parser counts as body parsing, a socket write called by aiohttp as the outbound
client. What no stage claims is the event loop itself (uvloop's C code, asyncio's
task steps). The table it prints is the one in docs/benchmarks.md, "Where the
microseconds go"; with ``--write`` it replaces that section.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import load
import procs
import run
import uvloop
from procs import REPO
from report import Results, write_section

SECTION = "## Where the microseconds go"
NEXT_SECTION = "## Relay guards"

# (stage, path fragments of the frames it owns); the first stage that owns a frame
# claims it, so the more specific fragments come first.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("logging", ("/logging/",)),
    ("access log and metrics", ("woollama/observability/", "prometheus_client/")),
    ("guard and auth", ("woollama/server/guard.py", "woollama/server/auth.py",
                        "woollama/server/asgi_util.py", "ipaddress.py", "hmac.py")),
    ("body read, parse and `model` rewrite", ("woollama/surfaces/http.py", "/json/",
                                              "starlette/requests.py", "orjson")),
    ("model routing (router, aliases)", ("woollama/routing/",)),
    ("relay (answer check, stream forward)", ("woollama/surfaces/openai/relay.py",
                                              "starlette/responses.py")),
    ("outbound client (providers, http1, aiohttp)", ("woollama/providers/", "aiohttp/", "yarl/",
                                             "multidict/", "aiosignal/")),
    ("routes and middleware (Starlette, pins)", ("starlette/", "woollama/server/",
                                                 "woollama/surfaces/")),
    ("inbound HTTP server (uvicorn, httptools)", ("uvicorn/", "httptools/", "granian/")),
]  # fmt: skip
LOOP = "event loop (uvloop, asyncio tasks)"
THREADS = "other threads (log writer, executor)"


def stage_of(stack: list[str]) -> str:
    """The stage of one sample: its stack is outermost frame first."""
    if stack[0].startswith("Thread._bootstrap"):
        return THREADS
    # Below the loop's `run` are the frames that started the server (uvicorn's
    # among them); only what the loop called counts. A sample read while the stack
    # changed (--nonblocking) may lack them and is taken as it is.
    runs = [i for i, f in enumerate(stack) if "asyncio/runners.py" in f]
    for frame in reversed(stack[runs[-1] + 1 :] if runs else stack):
        for stage, fragments in STAGES:
            if any(f in frame for f in fragments):
                return stage
    return LOOP


def tally(raw: Path) -> collections.Counter[str]:
    """Samples per stage from py-spy's raw (collapsed) output: `a;b;c count` lines."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stage_of(stack.split(";"))] += int(n)
    return counts


async def drive(target: load.Target, seconds: float, pid: int) -> load.Throughput:
    async with load.aiohttp_session(target) as session:
        once = load.aiohttp_post(
            session, target.chat_url, load.chat_body(target.model, False), target.headers
        )
        return await load.concurrent(
            once, run.CONCURRENCY, seconds, 10**7, cpu=lambda: procs.cpu_seconds(pid)
        )


def profile(args: argparse.Namespace, root: Path) -> tuple[collections.Counter[str], float, str]:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise SystemExit("py-spy is not installed in this venv: run `make install`")
    raw = root / "profile.txt"
    with (
        procs.Procs(root / "logs") as pg,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        _, port = run.start_backend(pg)
        r = Results(command="", date="", counts={})
        cmd = [sys.executable, "-m", "woollama"]
        if args.src is not None:  # another build's src/ (`env` execs: py-spy sees python)
            cmd = ["env", f"PYTHONPATH={args.src.resolve()}", *cmd]
        wl, tcp, uds = run.start_woollama(pg, root, port, cmd, r)
        target = uds if args.socket else tcp
        runner.run(drive(target, 2.0, wl.pid))  # warm-up: connections, caches, JIT-free paths
        argv = [str(spy), "record", "--pid", str(wl.pid), "--format", "raw", "--nonblocking"]
        argv += ["--rate", str(args.rate), "--duration", str(int(args.seconds))]
        argv += ["--output", str(raw), "--full-filenames"]
        sampler = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # py-spy attaches
        tp = runner.run(drive(target, args.seconds - 1.0, wl.pid))
        try:
            _, err = sampler.communicate(timeout=args.seconds + 30)
        except subprocess.TimeoutExpired:
            sampler.kill()
            raise SystemExit("py-spy did not finish") from None
        if not raw.exists():
            raise SystemExit(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
    return tally(raw), tp.cpu_us_per_request, target.name


def report(counts: collections.Counter[str], cpu_us: float, target: str, command: str) -> str:
    # Threads other than the loop's wait in native code (inotify, a worker's queue)
    # and look busy to py-spy: shown, but not charged any of the loop's CPU.
    threads = counts.pop(THREADS, 0)
    total = sum(counts.values()) or 1
    lines = [
        SECTION,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"py-spy samples of woollama's main thread at concurrency 16, non-streaming "
        f"pass-through over {target}, while woollama spent {cpu_us:.0f} µs of CPU per "
        "request (its process tree, from /proc). A sample is charged to the innermost "
        "frame of a stage, so a stage's share includes the library calls it makes; the "
        "µs column is that share of the CPU per request.",
        "",
        "| stage | share of samples | µs per request |",
        "|---|---|---|",
    ]
    for stage, n in counts.most_common():
        lines.append(f"| {stage} | {n / total:.0%} | {n / total * cpu_us:.0f} |")
    lines += [
        "",
        f"Samples outside the event loop's thread ({threads} of {total + threads}) are left "
        "out: those threads wait in native code. py-spy counts time, not CPU: a sample "
        "inside a socket write also counts the moments the kernel spends waking the "
        "reader, so the stages that write (the outbound client, the inbound server) "
        "read a little high.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=int, default=250, help="samples per second")
    ap.add_argument("--socket", action="store_true", help="over the Unix socket, not TCP")
    ap.add_argument("--write", action="store_true", help="replace the section in --out")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--keep", action="store_true", help="keep py-spy's raw output")
    ap.add_argument("--src", type=Path, help="profile the woollama in this src/ instead")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wl-prof-"))
    (root / "logs").mkdir()
    try:
        counts, cpu_us, target = profile(args, root)
    finally:
        if args.keep:
            print(f"raw samples kept in {root / 'profile.txt'}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    command = " ".join([".venv/bin/python bench/profile.py", *sys.argv[1:]])
    section = report(counts, cpu_us, target, command)
    print(section)
    if args.write:
        write_section(args.out, section, before=NEXT_SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
