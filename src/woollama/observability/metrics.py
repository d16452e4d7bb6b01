"""Prometheus metrics through `prometheus_client`, in a registry of each app's own.

Request metrics are counted as requests end; what describes state (downstream
servers, providers, uptime) is read when scraped, so it costs nothing in between.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from woollama.observability.record import AccessRecord

# Woollama's own share of a request is sub-millisecond when all is well.
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

StateReader = Callable[[], dict[str, Any]]


class Metrics:
    def __init__(self, state: StateReader | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The per-request families are counted here and handed to prometheus_client
        # at scrape time: its own Counter and Histogram take a lock and walk every
        # bucket on each observation, several times this (bench/observability.py).
        self.requests = _RequestStats()
        r.register(self.requests)
        self.streams = Gauge(
            "woollama_streams_in_flight", "Streamed answers being sent now.", registry=r
        )
        self.tool_calls = Counter(
            "woollama_tool_calls",
            "MCP tool calls, by server, tool, outcome and who asked (recipe or mcp).",
            ["server", "tool", "outcome", "via"],
            registry=r,
        )
        self.tool_duration = Histogram(
            "woollama_tool_call_duration_seconds",
            "Time an MCP tool call took.",
            ["server", "tool"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.recipe_turns = Counter(
            "woollama_recipe_turns", "Model turns recipes took.", ["recipe"], registry=r
        )
        if state is not None:
            r.register(_StateCollector(state))

    def observe(self, record: AccessRecord) -> None:
        self.requests.observe(record)
        for call in record.tools:
            self.tool_called(call.tool, call.ok, call.ms, "recipe")
        if record.turns and record.model:
            self.recipe_turns.labels(record.model).inc(record.turns)

    def tool_called(self, tool: str, ok: bool, ms: float, via: str) -> None:
        server, _, name = tool.partition(".")
        self.tool_calls.labels(server, name, "ok" if ok else "error", via).inc()
        self.tool_duration.labels(server, name).observe(ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Histogram:
    """Per-bucket counts (made cumulative when scraped) and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def family_samples(self) -> tuple[list[tuple[str, float]], float]:
        buckets, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append((floatToGoString(bound), float(running)))
        return buckets, self.total


class _RequestStats(Collector):
    """Requests by route, surface, provider, model and status; latency by route."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str, str], int] = {}
        self.by_route: dict[str, tuple[_Histogram, _Histogram, _Histogram]] = {}

    def observe(self, record: AccessRecord) -> None:
        key = (record.route, record.surface, record.provider or "", record.model or "",
               str(record.status))  # fmt: skip
        self.counts[key] = self.counts.get(key, 0) + 1
        histograms = self.by_route.get(record.route)
        if histograms is None:
            histograms = self.by_route[record.route] = (
                _Histogram(_LATENCY_BUCKETS),
                _Histogram(_OVERHEAD_BUCKETS),
                _Histogram(_LATENCY_BUCKETS),
            )
        total, overhead, ttfb = histograms
        total.observe(record.total)
        if (spent := record.overhead) is not None:
            overhead.observe(spent)
        if (first := record.ttfb) is not None:
            ttfb.observe(first)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "woollama_requests",
            "Requests answered, by route, surface, provider, model and status.",
            labels=["route", "surface", "provider", "model", "status"],
        )
        for key, count in list(self.counts.items()):
            requests.add_metric(list(key), float(count))
        yield requests
        names = (
            ("woollama_request_duration_seconds", "Total time of a request, to its last byte."),
            ("woollama_overhead_seconds", "woollama's own share of a request: total time "
             "minus time waiting on the backend."),
            ("woollama_time_to_first_byte_seconds",
             "Time from a request's arrival to the first byte of its answer."),
        )  # fmt: skip
        for index, (name, documentation) in enumerate(names):
            family = HistogramMetricFamily(name, documentation, labels=["route"])
            for route, histograms in list(self.by_route.items()):
                buckets, total = histograms[index].family_samples()
                family.add_metric([route], buckets, total)
            yield family


class _StateCollector(Collector):
    """Downstream servers, providers and the process, read at scrape time."""

    def __init__(self, state: StateReader):
        self._state = state

    def describe(self) -> list[Metric]:
        return []  # state families are built per scrape; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        up = GaugeMetricFamily(
            "woollama_mcp_server_up", "1 if the MCP server is connected.", labels=["server"]
        )
        health = GaugeMetricFamily(
            "woollama_mcp_server_health",
            "The MCP server's state (1 for the current one).",
            labels=["server", "state"],
        )
        tools = GaugeMetricFamily(
            "woollama_mcp_server_tools", "Tools the MCP server offers.", labels=["server"]
        )
        reconnects = CounterMetricFamily(
            "woollama_mcp_server_reconnects",
            "Times the MCP server connected again after its first connection.",
            labels=["server"],
        )
        for server in state.get("servers", []):
            name = server["name"]
            up.add_metric([name], 1.0 if server["status"] == "connected" else 0.0)
            for kind in ("connecting", "connected", "retrying", "failed"):
                health.add_metric([name, kind], 1.0 if server["status"] == kind else 0.0)
            tools.add_metric([name], float(server["tool_count"]))
            reconnects.add_metric([name], float(server["reconnects"]))
        reachable = GaugeMetricFamily(
            "woollama_provider_reachable",
            "1 if the provider answered its last request, 0 if it could not be reached or "
            "cannot answer (a missing key or program); absent until first used.",
            labels=["provider"],
        )
        for provider in state.get("providers", []):
            if provider["state"] in ("reachable", "unreachable", "unavailable"):
                reachable.add_metric(
                    [provider["name"]], 1.0 if provider["state"] == "reachable" else 0.0
                )
        started = GaugeMetricFamily(
            "woollama_start_time_seconds", "When this woollama started (Unix time)."
        )
        started.add_metric([], float(state.get("started_at", time.time())))
        problems = GaugeMetricFamily(
            "woollama_config_problems", "Problems found in the config files as they are now."
        )
        problems.add_metric([], float(len(state.get("config_problems", []))))
        yield from (up, health, tools, reconnects, reachable, started, problems)
