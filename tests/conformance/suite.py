"""Running the official MCP conformance suite (npm, in tests/npm) and reading its results."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

NPM = Path(__file__).parents[1] / "npm" / "node_modules"
# Node 22 from npm (the `node` package): the suite needs it, the system may have older.
NODE_BIN = NPM / ".bin"
# The 0.1 line and the 0.2 alpha (2026-07-28), installed side by side.
SUITES = {
    "0.1": NPM / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    "0.2": NPM / "conformance-next" / "dist" / "index.js",
}
_STAMP = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")

# Each run's own summary, printed at the end of the pytest session (conftest.py).
SUMMARIES: list[str] = []


@dataclass(frozen=True)
class Outcome:
    passed: int
    failed: int
    warnings: int
    checks: tuple[dict, ...]

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def check(self, check_id: str) -> dict:
        return next(c for c in self.checks if c["id"] == check_id)

    def failures(self) -> str:
        bad = [c for c in self.checks if c["status"] == "FAILURE"]
        return "; ".join(f"{c['id']}: {c.get('errorMessage', '')}"[:300] for c in bad)


def run(version: str, *args: str, timeout: float) -> str:
    """Run one suite with Node 22 first on PATH; its output, summary included."""
    script = SUITES[version]
    assert script.exists(), "make install runs npm ci in tests/npm"
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(NODE_BIN / "node"), str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    # A failing scenario exits non-zero too; only a run that reported nothing is broken.
    # Client mode writes its checks to stderr, so both are read.
    output = result.stdout + result.stderr
    assert output.strip(), f"the suite said nothing (exit {result.returncode})"
    return output


def summary(title: str, stdout: str) -> str:
    """The suite's own summary block of one run, kept for the end of the session."""
    for marker in ("=== SUMMARY ===", "Test Results:"):
        if marker in stdout:
            text = stdout[stdout.rindex(marker) :].strip()
            break
    else:
        text = stdout[-2000:].strip()
    block = f"--- {title} ---\n{text}"
    SUMMARIES.append(block)
    return block


def outcomes(out_dir: Path, prefix: str = "") -> dict[str, Outcome]:
    """Scenario name -> outcome, from the `checks.json` the suite writes per scenario."""
    found: dict[str, Outcome] = {}
    for checks_file in sorted(out_dir.rglob("checks.json")):
        relative = checks_file.parent.relative_to(out_dir).as_posix()
        name = _STAMP.sub("", relative)
        name = name.removeprefix(prefix) if prefix else name
        checks = tuple(json.loads(checks_file.read_text()))
        found[name] = Outcome(
            passed=sum(c["status"] == "SUCCESS" for c in checks),
            failed=sum(c["status"] == "FAILURE" for c in checks),
            warnings=sum(c["status"] == "WARNING" for c in checks),
            checks=checks,
        )
    return found
