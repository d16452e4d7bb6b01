"""Helpers for reading what a running woollama reports about itself."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Woollama

DEADLINE = 10.0
POLL = 0.05


def access_lines(server: Woollama) -> list[str]:
    marker = "woollama.access: "
    return [line.split(marker, 1)[1] for line in server.log().splitlines() if marker in line]


def wait_for_line(server: Woollama, *parts: str, deadline: float = DEADLINE) -> str:
    """The first access line holding every one of `parts`; lines are written as a
    request ends, a moment after the client has its answer."""
    end = time.monotonic() + deadline
    while True:
        for line in access_lines(server):
            if all(part in line for part in parts):
                return line
        if time.monotonic() > end:
            raise AssertionError(
                f"no access line with {parts}; lines:\n" + "\n".join(access_lines(server))
            )
        time.sleep(POLL)


def fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def poll(check: Callable[[], object], what: str, deadline: float = DEADLINE) -> object:
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer, parsed by prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    """The sum over samples of `name` whose labels include `labels` (0 if none)."""
    total = 0.0
    for (sample, sample_labels), number in found.items():
        if sample == name and set(labels.items()) <= set(sample_labels):
            total += number
    return total
