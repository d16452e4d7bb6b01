"""woollama benchmark: latency, streaming, throughput and memory against a fake backend.

Usage (from the repo root): ``.venv/bin/python bench/run.py [--quick] [--litellm]``

It starts, on loopback only, a fast fake OpenAI-compatible backend
(``bench/fake_backend.py``) and woollama (``python -m woollama``, configured through
``WOOLLAMA_CONFIG_DIR`` with one inferencer ``fake`` pointing at the backend), then
measures the same rows for the backend directly, woollama over TCP and woollama over
its Unix socket, all with one aiohttp client. It also compares the outbound client
libraries (httpx2 vs aiohttp), optionally LiteLLM's proxy (``--litellm``), and writes
``docs/benchmarks.md``. Everything it starts is stopped when it ends, also on error,
Ctrl-C or SIGTERM, and the whole run is bounded in time (SIGALRM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import aiohttp
import httpx2
import load
import procs
import uvloop
from load import Samples, Target
from procs import REPO, StartError
from report import DIRECT, LITELLM, TCP, UDS, Results, loadavg, markdown, summary

from woollama.providers.http1 import Http1Pool, Origin

MODEL = "fake/m"  # what clients ask woollama (and LiteLLM) for
STREAM_CHUNKS = 50  # must match fake_backend.STREAM_CHUNKS


@dataclass(frozen=True)
class Counts:
    seq: int  # sequential requests per target (after warm-up)
    warmup: int
    stream: int  # sequential streamed requests per target
    stream_warmup: int
    conc_seconds: float  # measured window of the concurrency-16 run per target
    conc_max: int  # hard cap on requests in that window
    rounds: int  # targets are interleaved in this many rounds, so drift hits all alike
    client_seq: int
    client_stream: int
    client_conc_seconds: float
    budget_s: int  # the whole run is aborted past this (not counting a LiteLLM install)


FULL = Counts(2000, 200, 400, 40, 5.0, 200_000, 4, 2000, 400, 3.0, 420)
QUICK = Counts(200, 30, 40, 10, 1.0, 20_000, 2, 200, 40, 0.7, 90)
CONCURRENCY = 16


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # KeyboardInterrupt and SystemExit are the exceptions asyncio lets escape a running
    # loop; the Procs context then stops every subprocess on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise SystemExit("benchmark exceeded its time bound; stopping everything it started")


# --- processes ----------------------------------------------------------------------


def start_backend(pg: procs.Procs) -> tuple[int, int]:
    argv = [sys.executable, str(procs.BENCH_DIR / "fake_backend.py"), "--max-seconds", "1800"]
    p, log = pg.start("fake_backend", argv, procs.clean_env())

    def ready() -> bool:
        return "LISTENING" in log.read_text()

    procs.wait_until(ready, 10.0, p, log, "fake backend")
    host, port = log.read_text().split("LISTENING", 1)[1].split()[0].rsplit(":", 1)
    procs.require_loopback(host)
    return p.pid, int(port)


@functools.cache
def woollama_pythonpath() -> dict[str, str]:
    """Run the installed (editable, by `make install`) package; src/ only as a fallback.

    The fallback covers a checkout whose package is not installed yet; an install is
    still what a full run wants, since it also provides woollama's bundled extras.
    """
    probe = subprocess.run(
        [sys.executable, "-c", "import woollama"], env=procs.clean_env(), capture_output=True
    )
    if probe.returncode == 0:
        return {}
    print("note: woollama is not installed in this venv (run `make install`); using src/")
    return {
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
        )
    }


def start_woollama(
    pg: procs.Procs, root: Path, backend_port: int, cmd: list[str], r: Results
) -> tuple[subprocess.Popen[bytes], Target, Target]:
    cfg, run, state = root / "config", root / "run", root / "state"
    for d in (cfg, run, state):
        d.mkdir(mode=0o700)
    (cfg / "inferencers.toml").write_text(
        f'[inferencers.fake]\nbase_url = "http://127.0.0.1:{backend_port}/v1"\nmodels = ["m"]\n'
    )
    env = procs.clean_env(
        WOOLLAMA_CONFIG_DIR=str(cfg),
        XDG_RUNTIME_DIR=str(run),
        WOOLLAMA_STATE_DIR=str(state),
        XDG_CONFIG_HOME=str(cfg),
        XDG_STATE_HOME=str(state),
        **woollama_pythonpath(),
    )
    t0 = time.monotonic()
    p, log = pg.start("woollama", cmd, env)
    addr_file, sock = run / "woollama.addr", run / "woollama.sock"

    def files_ready() -> bool:
        try:
            return ":" in addr_file.read_text() and stat.S_ISSOCK(sock.stat().st_mode)
        except OSError:
            return False

    procs.wait_until(files_ready, 20.0, p, log, "woollama (waiting for woollama.addr + .sock)")
    host, port = addr_file.read_text().strip().rsplit(":", 1)
    procs.require_loopback(host)
    # The files may be written just before the server accepts; any HTTP answer is ready.
    # /health, not /v1/models: a listing asks the backends, and "idle after start"
    # means a woollama that has served nothing yet.
    procs.wait_until(
        lambda: procs.http_status(host, int(port), "/health") is not None,
        10.0,
        p,
        log,
        "woollama HTTP",
    )
    r.startup_s["woollama"] = time.monotonic() - t0
    tcp = Target(TCP, f"http://{host}:{port}/v1", MODEL)
    # Over the socket the Host header is "localhost", as clients of the socket send it.
    uds = Target(UDS, "http://localhost/v1", MODEL, uds=str(sock))
    return p, tcp, uds


def start_litellm(
    pg: procs.Procs, exe: Path, root: Path, backend_port: int, r: Results
) -> tuple[subprocess.Popen[bytes], Target]:
    cfg = root / "litellm.yaml"
    key = procs.litellm_config(cfg, backend_port, MODEL)
    port = procs.free_port()
    env = procs.clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    argv = [str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.monotonic()
    p, log = pg.start("litellm", argv, env)
    procs.wait_until(
        lambda: procs.http_status("127.0.0.1", port, "/health/liveliness") == 200,
        90.0,
        p,
        log,
        "LiteLLM proxy",
    )
    r.startup_s["LiteLLM"] = time.monotonic() - t0
    procs.settle(p.pid)
    r.memory["LiteLLM, idle after start"] = procs.memory_kb(p.pid)
    return p, Target(LITELLM, f"http://127.0.0.1:{port}/v1", MODEL, api_key=key)


# --- measurement phases ---------------------------------------------------------------


async def measure_targets(
    targets: list[Target], c: Counts, r: Results, pids: dict[str, int]
) -> None:
    """Sequential, streaming and concurrency-16 rows, with one aiohttp client.

    ``pids`` maps a target to the process whose CPU time is charged to it.
    """
    sessions = {t.name: load.aiohttp_session(t) for t in targets}
    try:
        post = {
            t.name: load.aiohttp_post(
                sessions[t.name], t.chat_url, load.chat_body(t.model, False), t.headers
            )
            for t in targets
        }
        strm = {
            t.name: load.aiohttp_stream(
                sessions[t.name],
                t.chat_url,
                load.chat_body(t.model, True),
                STREAM_CHUNKS,
                t.headers,
            )
            for t in targets
        }
        print(f"  sequential: {c.seq} requests x {len(targets)} targets", flush=True)
        for t in targets:
            await load.sequential(post[t.name], 0, c.warmup)
        for _ in range(c.rounds):
            for t in targets:
                s = await load.sequential(post[t.name], c.seq // c.rounds, 0)
                r.seq.setdefault(t.name, Samples()).values.extend(s.values)

        print(f"  streaming: {c.stream} streams x {len(targets)} targets", flush=True)
        for t in targets:
            await load.sequential_stream(strm[t.name], 0, c.stream_warmup)
        for _ in range(c.rounds):
            for t in targets:
                first, total = await load.sequential_stream(strm[t.name], c.stream // c.rounds, 0)
                r.stream_first.setdefault(t.name, Samples()).values.extend(first.values)
                r.stream_total.setdefault(t.name, Samples()).values.extend(total.values)

        print(f"  concurrency {CONCURRENCY}: {c.conc_seconds} s per target", flush=True)
        for _ in range(c.rounds):
            for t in targets:
                pid = pids.get(t.name)
                tp = await load.concurrent(
                    post[t.name],
                    CONCURRENCY,
                    c.conc_seconds / c.rounds,
                    c.conc_max // c.rounds,
                    cpu=(lambda p=pid: procs.cpu_seconds(p)) if pid else None,
                    machine=procs.machine_busy_seconds,
                )
                r.conc[t.name] = r.conc[t.name].merge(tp) if t.name in r.conc else tp
    finally:
        for s in sessions.values():
            await s.close()


async def measure_clients(direct: Target, c: Counts, r: Results) -> None:
    """httpx2 vs aiohttp as the router's outbound client, against the backend directly."""
    body, sbody = load.chat_body(direct.model, False), load.chat_body(direct.model, True)
    url, n = direct.chat_url, STREAM_CHUNKS
    origin = Origin.of(direct.base_url)
    assert origin is not None
    lean = Http1Pool(origin, provider="fake", base_url=direct.base_url, connect_timeout=10.0,
                     read_timeout=30.0)  # fmt: skip
    async with (
        load.aiohttp_session(direct) as a,
        load.aiohttp_session(direct, trust_env=True) as at,
        load.httpx2_client() as h,
    ):
        post = {
            "aiohttp": load.aiohttp_post(a, url, body),
            "aiohttp trust_env=True": load.aiohttp_post(at, url, body),
            "httpx2": load.httpx2_post(h, url, body),
            "woollama http1": load.http1_post(lean, "/chat/completions", body),
        }
        strm = {
            "aiohttp raw": load.aiohttp_stream_raw(a, url, sbody, n),
            "httpx2 raw": load.httpx2_stream_raw(h, url, sbody, n),
            "woollama http1 raw": load.http1_stream_raw(lean, "/chat/completions", sbody, n),
            "aiohttp lines": load.aiohttp_stream(a, url, sbody, n),
            "httpx2 lines": load.httpx2_stream(h, url, sbody, n),
        }
        print(f"  clients: {c.client_seq} POSTs, {c.client_stream} streams each", flush=True)
        for once in post.values():
            await load.sequential(once, 0, c.warmup)
        for _ in range(c.rounds):
            for name, once in post.items():
                s = await load.sequential(once, c.client_seq // c.rounds, 0)
                r.client_seq.setdefault(name, Samples()).values.extend(s.values)
        for name, sonce in strm.items():
            await load.sequential_stream(sonce, 0, c.stream_warmup)
            r.client_stream[name] = await load.sequential_stream(sonce, c.client_stream, 0)
        for name, once in post.items():
            r.client_conc[name] = await load.concurrent(
                once, CONCURRENCY, c.client_conc_seconds, c.conc_max
            )
    await lean.aclose()


# --- main -----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="woollama benchmark (loopback only)")
    ap.add_argument("--quick", action="store_true", help="small counts, a smoke run < 30 s")
    ap.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="report path")
    ap.add_argument(
        "--woollama-cmd",
        default=shlex.join([sys.executable, "-m", "woollama"]),
        help="command that serves woollama (e.g. another installed version to compare)",
    )
    ap.add_argument("--skip-woollama", action="store_true", help="harness check: direct rows only")
    return ap.parse_args()


def package_version(python: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    return out.stdout.strip() or "?"


def versions(woollama_cmd: list[str], skip: bool) -> dict[str, str]:
    """What was measured: woollama's --version and the working tree's commit."""
    out: dict[str, str] = {}
    if not skip:
        env = procs.clean_env(**woollama_pythonpath())
        try:
            v = subprocess.run(
                [*woollama_cmd, "--version"], env=env, capture_output=True, text=True, timeout=30
            )
            out["woollama"] = (v.stdout.strip() or v.stderr.strip()[-200:] or "?").removeprefix(
                "woollama "
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            out["woollama"] = f"? ({e})"
    git = ["git", "-C", str(REPO)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True, timeout=10
        )
        out["commit"] = head.stdout.strip() + (" (src/ modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    out["aiohttp"] = aiohttp.__version__
    out["httpx2"] = httpx2.__version__
    return out


def command_line() -> str:
    py = Path(sys.executable)
    with contextlib.suppress(ValueError):
        py = py.relative_to(REPO)
    return shlex.join([str(py), "bench/run.py", *sys.argv[1:]])


# The sections this script writes; the page's others belong to other scripts.
OWN_SECTIONS = (
    "## Sequential",
    "## Streaming",
    "## Concurrency 16",
    "## Memory",
    "## Outbound client",
    "## Targets",
    "## Notes",
)


def write_own_part(out: Path, text: str) -> None:
    """Replace this script's part of the page (its top), keeping every other section."""
    others: list[str] = []
    if out.exists():
        for part in out.read_text().split("\n## ")[1:]:
            if not ("## " + part).startswith(OWN_SECTIONS):
                others.append("## " + part.rstrip() + "\n")
    out.write_text("\n".join([text.rstrip() + "\n", *others]))


def main() -> int:
    args = parse_args()
    # This process too: no proxy variables, NO_PROXY=loopback, so even a client with
    # trust_env=True can only ever reach 127.0.0.1.
    clean = procs.clean_env()
    os.environ.clear()
    os.environ.update(clean)
    c = QUICK if args.quick else FULL
    r = Results(
        command=command_line(),
        date=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        counts={
            "sequential": f"{c.seq} requests per target after {c.warmup} warm-up",
            "streaming": f"{c.stream} streams per target after {c.stream_warmup} warm-up",
            "concurrency": f"{CONCURRENCY} workers for {c.conc_seconds} s per target",
            "interleaved rounds (each section)": str(c.rounds),
        },
    )
    r.loadavg["start"] = loadavg()
    if float(r.loadavg["start"].split()[0]) > 1.0:
        print(f"note: load average {r.loadavg['start']}: other work shares the cores", flush=True)
    r.versions = versions(shlex.split(args.woollama_cmd), args.skip_woollama)
    litellm_exe: Path | None = None
    if args.litellm:
        print("LiteLLM: preparing bench/.venv-litellm (once) ...", flush=True)
        litellm_exe, why = procs.ensure_litellm()
        if litellm_exe is None:
            print(f"LiteLLM skipped: {why}", flush=True)
            r.notes.append(f"LiteLLM row skipped: {why.splitlines()[0]}")

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(c.budget_s + (120 if litellm_exe else 0))
    root = Path(tempfile.mkdtemp(prefix="wl-bench-"))  # short: a socket path fits
    (root / "logs").mkdir()
    ok = False
    try:
        with (
            procs.Procs(root / "logs") as pg,
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            backend_pid, port = start_backend(pg)
            direct = Target(DIRECT, f"http://127.0.0.1:{port}/v1", "m")
            targets = [direct]
            pids = {DIRECT: backend_pid}
            wl: subprocess.Popen[bytes] | None = None
            if not args.skip_woollama:
                print("starting woollama ...", flush=True)
                wl, tcp, uds = start_woollama(pg, root, port, shlex.split(args.woollama_cmd), r)
                procs.settle(wl.pid)  # children started after listening count as idle
                r.memory["woollama, idle after start"] = procs.memory_kb(wl.pid)
                targets += [tcp, uds]
                pids |= {TCP: wl.pid, UDS: wl.pid}
            print("measuring: " + ", ".join(t.name for t in targets), flush=True)
            runner.run(measure_targets(targets, c, r, pids))
            if wl is not None:
                r.memory["woollama, after load"] = procs.memory_kb(wl.pid)
                code = pg.stop(wl)
                if code not in (0, -signal.SIGTERM):
                    r.notes.append(f"woollama exited with {code} on SIGTERM (expected 0)")
            runner.run(measure_clients(direct, c, r))
            if litellm_exe is not None:
                print("starting LiteLLM proxy ...", flush=True)
                r.versions["litellm"] = package_version(litellm_exe.parent / "python", "litellm")
                llp, ll = start_litellm(pg, litellm_exe, root, port, r)
                # LiteLLM is far slower per request; half the counts keep the run bounded.
                half = dataclasses.replace(c, seq=c.seq // 2, stream=c.stream // 2)
                r.notes.append(
                    f"LiteLLM {r.versions.get('litellm', '')} ran as `litellm --config` with its "
                    "default settings (one worker, master key set, request logging on), routing "
                    f"`{MODEL}` to `openai/m` at the fake backend; its sequential and streaming "
                    f"rows use half the counts ({half.seq} and {half.stream}) to bound the run."
                )
                runner.run(measure_targets([ll], half, r, {LITELLM: llp.pid}))
                r.memory["LiteLLM, after load"] = procs.memory_kb(llp.pid)

                pg.stop(llp)
        ok = True
    except (StartError, load.BenchError) as e:
        print(f"\nbenchmark failed: {e}\nlogs kept in {root / 'logs'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; everything the benchmark started was stopped", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
        return 130
    except SystemExit:
        print(f"logs kept in {root / 'logs'}", file=sys.stderr)
        raise
    finally:
        signal.alarm(0)
        if ok:
            shutil.rmtree(root, ignore_errors=True)

    r.loadavg["end"] = loadavg()
    if args.skip_woollama:
        r.notes.append("run with --skip-woollama: woollama rows were not measured")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_own_part(args.out, markdown(r))
    print("\n" + summary(r))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
