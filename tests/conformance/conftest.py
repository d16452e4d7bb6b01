"""Print the conformance suite's own summaries at the end of the pytest run (even without -s)."""

from __future__ import annotations

import pytest

from tests.conformance.suite import SUMMARIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARIES:
        terminalreporter.section("MCP conformance suite")
        for block in SUMMARIES:
            terminalreporter.write_line(block)
