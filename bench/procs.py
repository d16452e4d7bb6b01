"""Subprocess lifecycle for the benchmark: start, wait until ready, measure, stop.

Every process is started in its own session (process group) so that stopping it
also stops anything it spawned; ``Procs`` stops them all, in reverse order, when
its ``with`` block exits for any reason (error, Ctrl-C, SIGTERM). Every wait here
is bounded in time.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

# Variables that could send traffic off loopback, change where woollama binds, or
# make a router reach a cloud provider: none of them belong in a benchmark run.
_DROP_PREFIXES = ("WOOLLAMA_", "LITELLM_")
_DROP = {
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GROQ_API_KEY",
    "TOGETHER_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_BASE_URL",
    "DATABASE_URL",
}


class StartError(RuntimeError):
    """A process did not become ready; the message carries the tail of its log."""


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in _DROP and not k.startswith(_DROP_PREFIXES)
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    env.update(extra)
    return env


def require_loopback(host: str) -> None:
    """The benchmark only ever sends traffic to loopback; refuse anything else."""
    h = host.strip("[]")
    if h == "localhost":
        return
    if not ipaddress.ip_address(h).is_loopback:
        raise StartError(f"refusing non-loopback address {host!r}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Procs:
    """Owns the benchmark's subprocesses; stops every one of them on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Procs:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for _, p in reversed(self.started):
            stop(p)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as fh:
            p = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() reaches its children
            )
        self.started.append((name, p))
        return p, log

    def stop(self, p: subprocess.Popen[bytes], grace: float = 5.0) -> int | None:
        self.started = [(n, q) for n, q in self.started if q is not p]
        return stop(p, grace)


def stop(p: subprocess.Popen[bytes], grace: float = 5.0) -> int | None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(grace)
    # Children left in the group after the leader exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    return p.returncode


def wait_until(
    ready: Callable[[], bool], timeout: float, p: subprocess.Popen[bytes], log: Path, what: str
) -> float:
    """Poll ``ready`` every 20 ms until true; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ready():
            return time.monotonic() - t0
        if p.poll() is not None:
            raise StartError(f"{what} exited with {p.returncode}:\n{log_tail(log)}")
        time.sleep(0.02)
    raise StartError(f"{what} not ready after {timeout:.0f} s:\n{log_tail(log)}")


def http_status(host: str, port: int, path: str) -> int | None:
    """One GET on loopback with http.client (which never consults proxy settings)."""
    require_loopback(host)
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# --- memory -------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """pid and every process below it (one bounded pass over /proc)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [pid], [pid]
    while todo:
        cur = todo.pop()
        kids = [c for c, pp in parent.items() if pp == cur and c not in out]
        out += kids
        todo += kids
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree (threads included), in seconds."""
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError):
            continue
    return total / _TICKS


def settle(pid: int, max_s: float = 5.0) -> float:
    """Wait (bounded) until the tree's RSS stops changing; returns the seconds waited.

    A router may spawn children after it starts listening (woollama starts its MCP
    servers in the background), so "idle after start" is read once those are up.
    """
    t0 = time.monotonic()
    last, stable = -1, 0
    while time.monotonic() - t0 < max_s and stable < 3:
        time.sleep(0.25)
        now = memory_kb(pid)["tree_rss"]
        stable = stable + 1 if last > 0 and abs(now - last) <= last * 0.01 else 0
        last = now
    return time.monotonic() - t0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user/nice, so leave fields 8+ out.
    return (sum(fields[:8]) - idle) / _TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM of the process, and VmRSS summed over its process tree."""
    return {
        "rss": _status_kb(pid, "VmRSS"),
        "hwm": _status_kb(pid, "VmHWM"),
        "tree_rss": sum(_status_kb(p, "VmRSS") for p in descendants(pid)),
    }


# --- LiteLLM (optional comparison) --------------------------------------------------

LITELLM_VENV = BENCH_DIR / ".venv-litellm"


def ensure_litellm(timeout: float = 600.0) -> tuple[Path | None, str]:
    """Create bench/.venv-litellm with ``litellm[proxy]`` once; (binary, why-not)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe, ""
    uv = Path(sys.executable).parent / "uv"
    env = clean_env(UV_PYTHON_DOWNLOADS="never")
    steps = [
        # --allow-existing: a venv left by an interrupted install is reused, not refused.
        [str(uv), "venv", "--allow-existing", "--python", sys.executable, str(LITELLM_VENV)],
        [str(uv), "pip", "install", "--python", str(LITELLM_VENV / "bin" / "python"),
         "litellm[proxy]"],
    ]  # fmt: skip
    deadline = time.monotonic() + timeout
    for argv in steps:
        print("  $", " ".join(argv), flush=True)
        try:
            r = subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"{argv[1]} failed: {e}"
        if r.returncode != 0:
            return None, f"{' '.join(argv[1:3])} failed:\n{(r.stderr or r.stdout)[-1500:]}"
    if not exe.exists():
        return None, f"install finished but {exe} is missing"
    return exe, ""


def litellm_config(path: Path, backend_port: int, model: str) -> str:
    """Write a proxy config routing ``model`` to the fake backend; returns the key."""
    key = "sk-bench-" + secrets.token_hex(16)
    path.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        "      model: openai/m\n"
        f"      api_base: http://127.0.0.1:{backend_port}/v1\n"
        "      api_key: bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "general_settings:\n"
        f"  master_key: {key}\n"
    )
    return key
