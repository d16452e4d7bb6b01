"""Render the benchmark results as docs/benchmarks.md (and a short console summary)."""

from __future__ import annotations

import math
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from load import Samples, Throughput

DIRECT = "direct (fake backend)"
TCP = "woollama TCP"
UDS = "woollama Unix socket"
LITELLM = "LiteLLM proxy"

# The targets the router is held to (issue 14: the hot path).
ADDED_P50_MAX_MS = 0.4
ADDED_FIRST_CHUNK_MAX_MS = 0.6
THROUGHPUT_MIN_RATIO = 0.6
CPU_MAX_US = 100.0  # woollama's CPU per pass-through request at concurrency 16


@dataclass
class Results:
    command: str
    date: str
    counts: dict[str, str]
    seq: dict[str, Samples] = field(default_factory=dict)
    stream_first: dict[str, Samples] = field(default_factory=dict)
    stream_total: dict[str, Samples] = field(default_factory=dict)
    conc: dict[str, Throughput] = field(default_factory=dict)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> kB values
    startup_s: dict[str, float] = field(default_factory=dict)
    client_seq: dict[str, Samples] = field(default_factory=dict)
    client_stream: dict[str, tuple[Samples, Samples]] = field(default_factory=dict)
    client_conc: dict[str, Throughput] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    loadavg: dict[str, str] = field(default_factory=dict)  # "start"/"end" -> /proc/loadavg


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": nproc.strip() or "?",
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def ms(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.3f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def _added(values: dict[str, Samples], name: str, p: float = 50) -> float:
    if name not in values or DIRECT not in values:
        return math.nan
    return values[name].pct(p) - values[DIRECT].pct(p)


def _signed(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:+.3f}"


def _vs_direct(values: dict[str, Samples], name: str) -> str:
    return "—" if name == DIRECT else _signed(_added(values, name))


def _us(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.0f}"


def _ratio(v: float) -> str:
    return f"{v:.0%}" if v >= 0.1 else f"{v:.1%}"


def _formula(values: dict[str, Samples], name: str, added: float) -> str:
    if math.isnan(added):
        return "not measured"
    return f"{values[name].pct(50):.3f} - {values[DIRECT].pct(50):.3f} = {added:+.3f} ms"


def targets(r: Results) -> list[tuple[str, str, bool | None]]:
    """(check, numbers, met) for each target and each woollama transport."""
    out: list[tuple[str, str, bool | None]] = []
    for name in (TCP, UDS):
        added = _added(r.seq, name)
        out.append(
            (
                f"added latency p50, non-streaming, {name} ≤ {ADDED_P50_MAX_MS} ms",
                _formula(r.seq, name, added),
                None if math.isnan(added) else added <= ADDED_P50_MAX_MS,
            )
        )
    for name in (TCP, UDS):
        added = _added(r.stream_first, name)
        out.append(
            (
                f"added time to first chunk p50, {name} ≤ {ADDED_FIRST_CHUNK_MAX_MS} ms",
                _formula(r.stream_first, name, added),
                None if math.isnan(added) else added <= ADDED_FIRST_CHUNK_MAX_MS,
            )
        )
    for name in (TCP, UDS):
        if name in r.conc and DIRECT in r.conc:
            ratio = r.conc[name].rps / r.conc[DIRECT].rps
            t, d = r.conc[name], r.conc[DIRECT]
            nums = f"{t.rps:.0f} / {d.rps:.0f} req/s = {_ratio(ratio)}"
            if not math.isnan(t.cpu_us_per_request):
                # A one-process router tops out at 1e6 / (its CPU µs per request) req/s.
                need = 1e6 / (THROUGHPUT_MIN_RATIO * d.rps)
                nums += f" (woollama CPU {t.cpu_us_per_request:.0f} µs/req; ≤ {need:.0f} needed)"
            met: bool | None = ratio >= THROUGHPUT_MIN_RATIO
        else:
            nums, met = "not measured", None
        out.append(
            (
                f"throughput at concurrency 16, {name} ≥ {THROUGHPUT_MIN_RATIO:.0%} of direct",
                nums,
                met,
            )
        )
    for name in (TCP, UDS):
        cpu = r.conc[name].cpu_us_per_request if name in r.conc else math.nan
        out.append(
            (
                f"CPU per pass-through request at concurrency 16, {name} ≤ {CPU_MAX_US:.0f} µs",
                "not measured" if math.isnan(cpu) else f"{cpu:.0f} µs",
                None if math.isnan(cpu) else cpu <= CPU_MAX_US,
            )
        )
    return out


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not run"}[met]


def markdown(r: Results) -> str:
    m = machine()
    lines = [
        "# woollama benchmarks",
        "",
        f"Produced by `{r.command}` on {r.date}.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, Linux {m['kernel']}. "
        "The load client, the fake backend and the router (and LiteLLM, when measured) all "
        "run on this machine over loopback and share its cores, so absolute numbers are "
        "pessimistic; the differences between rows are what matters.",
        "",
        "Load average (1/5/15 min): "
        + ", ".join(f"{k} {v}" for k, v in r.loadavg.items())
        + " — anything well above 0 at the start means other work shared the cores.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r.versions.items()) + ".",
        "",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in r.counts.items()) + ".",
        "",
        "The fake backend (`bench/fake_backend.py`) is a raw asyncio protocol on uvloop "
        "that answers immediately; streaming answers are 50 `chat.completion.chunk` events "
        "(one write each) then `data: [DONE]`. Every row is measured with the same aiohttp "
        "client (`bench/load.py`); latencies are in milliseconds, nearest-rank percentiles.",
        "",
        "## Sequential, non-streaming (concurrency 1)",
        "",
    ]
    rows = [
        [name, ms(s.pct(50)), ms(s.pct(90)), ms(s.pct(99)), _vs_direct(r.seq, name)]
        for name, s in r.seq.items()
    ]
    lines += _table(["target", "p50", "p90", "p99", "added p50 vs direct"], rows)

    lines += ["## Streaming, 50 chunks (concurrency 1)", ""]
    rows = [
        [
            name,
            ms(first.pct(50)),
            ms(first.pct(99)),
            ms(r.stream_total[name].pct(50)),
            ms(r.stream_total[name].pct(99)),
            _vs_direct(r.stream_first, name),
            _vs_direct(r.stream_total, name),
        ]
        for name, first in r.stream_first.items()
    ]
    head = ["target", "first chunk p50", "first chunk p99", "end p50", "end p99"]
    lines += _table([*head, "added first p50", "added end p50"], rows)

    lines += ["## Concurrency 16, non-streaming", ""]
    direct = r.conc.get(DIRECT)
    rows = [
        [
            name,
            f"{t.rps:.0f}",
            _ratio(t.rps / direct.rps) if direct else "n/a",
            ms(t.latency.pct(50)),
            ms(t.latency.pct(99)),
            str(t.requests),
            str(t.errors),
            _us(t.cpu_us_per_request),
            _us(t.client_cpu_us_per_request),
            "n/a" if math.isnan(t.machine_s) else f"{t.machine_s / t.seconds:.2f}",
        ]
        for name, t in r.conc.items()
    ]
    head = ["target", "req/s", "vs direct", "p50", "p99", "requests", "errors"]
    head += ["server CPU µs/req", "client CPU µs/req", "machine busy cores"]
    lines += _table(head, rows)
    lines += [
        "Server CPU is the CPU time of the process tree serving the row during the window "
        "(the fake backend for direct, woollama with its MCP server children for woollama, "
        "LiteLLM for LiteLLM) divided by requests; woollama's rows exclude the backend's "
        "share. Client "
        "CPU is the load generator's. With two cores shared by client, router and backend, "
        "the direct row is bound by the client, and a one-process router by its own CPU "
        "per request (at most 1e6 / that many req/s); CPU per request is the router's cost "
        "independent of how the cores happen to be split. Machine busy cores counts every "
        f"process on the machine (of {m['nproc']}): well below that, or well above the "
        "client's and server's shares, means something else ran during the window.",
        "",
    ]

    lines += ["## Memory", ""] if r.memory or r.startup_s else []
    rows = [
        [label, f"{v['rss'] / 1024:.1f}", f"{v['hwm'] / 1024:.1f}", f"{v['tree_rss'] / 1024:.1f}"]
        for label, v in r.memory.items()
    ]
    if rows:
        head = ["process, when", "VmRSS MiB", "VmHWM MiB (peak)", "RSS of process tree MiB"]
        lines += _table(head, rows)
        lines += [
            "VmRSS/VmHWM are the main process's; the tree adds its children (woollama's "
            "downstream MCP servers from the bundled defaults). Idle is read once the tree's "
            "RSS has stopped changing after start-up.",
            "",
        ]
    if r.startup_s:
        starts = ", ".join(f"{k} {v:.2f} s" for k, v in r.startup_s.items())
        lines += [f"Start-up until ready: {starts}.", ""]

    lines += [
        "## Outbound client: aiohttp, httpx2 and woollama's HTTP/1.1 client",
        "",
        "Raw client cost against the fake backend directly (no router), so the router's "
        "choice of outbound library is made on numbers. `raw` reads bytes as they arrive "
        "(what a pass-through relay does); `lines` splits SSE lines (what a recipe loop does). "
        "Both clients run with `trust_env=False` except the `trust_env=True` row: with it, "
        "aiohttp looks up proxy settings from the environment (in a worker thread) on every "
        "request. The benchmark removes proxy variables and sets `NO_PROXY` to loopback, so that "
        "row measures the look-up alone. `woollama http1` is `providers/http1.py`, what the "
        "pass-through uses for a plain-HTTP backend without a proxy (aiohttp carries the "
        "rest); CPU µs/req is the client process's own CPU time per request at "
        "concurrency 16.",
        "",
    ]
    rows = []
    for name, s in r.client_seq.items():
        _raw_f, raw_t = r.client_stream.get(name + " raw", (Samples(), Samples()))
        _, lin_t = r.client_stream.get(name + " lines", (Samples(), Samples()))
        c = r.client_conc.get(name)
        rows.append(
            [
                name,
                ms(s.pct(50)),
                ms(s.pct(99)),
                ms(raw_t.pct(50)),
                ms(raw_t.pct(99)),
                ms(lin_t.pct(50)),
                ms(lin_t.pct(99)),
                f"{c.rps:.0f}" if c else "n/a",
                _us(c.client_cpu_us_per_request) if c else "n/a",
            ]
        )
    head = ["client", "POST p50", "POST p99", "stream raw end p50", "raw p99"]
    head += ["stream lines end p50", "lines p99", "c16 req/s", "c16 CPU µs/req"]
    lines += _table(head, rows)

    lines += ["## Targets", ""]
    rows = [[check, nums, verdict(met)] for check, nums, met in targets(r)]
    lines += _table(["target", "measured", "verdict"], rows)
    if r.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    return "\n".join(lines)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def summary(r: Results) -> str:
    out = [f"load   {k} {v}" for k, v in r.loadavg.items()]
    for name, s in r.seq.items():
        out.append(f"seq    {name:24} p50 {ms(s.pct(50))} p99 {ms(s.pct(99))} ms")
    for name, s in r.stream_first.items():
        t = r.stream_total[name]
        out.append(f"stream {name:24} first p50 {ms(s.pct(50))}  end p50 {ms(t.pct(50))} ms")
    for name, t in r.conc.items():
        cpu, busy = t.cpu_us_per_request, t.machine_s / t.seconds
        out.append(
            f"c16    {name:24} {t.rps:8.0f} req/s  errors {t.errors}  cpu/req {cpu:.0f} µs"
            f"  machine busy {busy:.2f} cores"
        )
    for label, v in r.memory.items():
        mib = {k: f"{n / 1024:.1f}" for k, n in v.items()}
        out.append(
            f"mem    {label:28} RSS {mib['rss']} MiB  HWM {mib['hwm']} MiB  "
            f"tree RSS {mib['tree_rss']} MiB"
        )
    for name, s in r.client_seq.items():
        c = r.client_conc.get(name)
        rps = f"{c.rps:.0f}" if c else "n/a"
        out.append(f"client {name:24} POST p50 {ms(s.pct(50))} ms  c16 {rps} req/s")
    for check, nums, met in targets(r):
        out.append(f"target {verdict(met):12} {check}: {nums}")
    out += [f"note   {n}" for n in r.notes]
    return "\n".join(out)


def write_section(out: Path, section: str, *, before: str | None = None) -> None:
    """Put `section` in the page in place of the section with its heading (its first
    line), else in front of the section headed `before`, else at the end; every other
    section stays as it is."""
    heading = section.split("\n", 1)[0] + "\n"
    text = out.read_text() if out.exists() else "# woollama benchmarks\n"
    if heading in text:
        head, _, rest = text.partition(heading)
        after = rest.find("\n## ")
        tail = rest[after + 1 :] if after >= 0 else ""
    elif before is not None and before in text:
        head, _, rest = text.partition(before)
        tail = before + rest
    else:
        head, tail = text, ""
    out.write_text(head.rstrip() + "\n\n" + section.rstrip() + "\n" + ("\n" + tail if tail else ""))
