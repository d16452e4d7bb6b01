"""The official MCP conformance suite against woollama, as server and as client.

Server scenarios run against a real woollama whose only downstream server is the
fixture server of this folder, exported under its own names (`"namespace": false`)
so the suite's fixed names (`test_simple_text`, `test://static-text`) reach it.
Client scenarios run `client.py`: a real woollama pointed at the suite's server
through `mcp.json`, used through its `/mcp`. The suite's summaries are printed at
the end of the run; every scenario is expected to pass, waits for another part of
the work (xfail, with the reason), or is listed as not applicable to a router.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.server.streamable_http import EventMessage
from mcp_types import JSONRPCNotification

from tests.conformance import suite
from tests.conformance.suite import Outcome
from tests.harness import Woollama, start, write_config
from woollama.surfaces.mcp.event_store import BoundedEventStore

HERE = Path(__file__).parent
FIXTURE = HERE / "fixture_server.py"
CLIENT = HERE / "client.py"

# Scenarios that cannot apply to a router, with the reason (also in docs/mcp.md).
NOT_APPLICABLE = {
    "tasks-lifecycle": "the tasks extension: woollama does not offer it",
    "tasks-capability-negotiation": "the tasks extension: woollama does not offer it",
    "tasks-wire-fields": "the tasks extension: woollama does not offer it",
    "tasks-request-state-removal": "the tasks extension: woollama does not offer it",
    "tasks-mrtr-input": "the tasks extension: woollama does not offer it",
    "tasks-request-headers": "the tasks extension: woollama does not offer it",
    "tasks-dispatch-and-envelope": "the tasks extension: woollama does not offer it",
    "tasks-status-notifications": "the tasks extension: woollama does not offer it",
    "tasks-required-task-error": "the tasks extension: woollama does not offer it",
    "tasks-mrtr-composition": "the tasks extension: woollama does not offer it",
    "auth/*": "OAuth: woollama authenticates downstream servers with the static "
    "headers of mcp.json, and its own clients with a bearer token",
}

# Passing today, and must keep passing.
SERVER_PASS = {
    "server-initialize",
    "server-session-lifecycle",
    "logging-set-level",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "tools-call-with-progress",
    "elicitation-sep1330-enums",
    "elicitation-sep1034-defaults",
    "tools-call-elicitation",
    "tools-call-sampling",
    "json-schema-2020-12",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "resources-list",
    "sep-2164-resource-not-found",
    "prompts-list",
    "prompts-get-with-image",
    "prompts-get-embedded-resource",
    "prompts-get-with-args",
    "prompts-get-simple",
    "resources-unsubscribe",
    "resources-subscribe",
    "resources-templates-read",
    "resources-read-binary",
    "resources-read-text",
    "completion-complete",
    "dns-rebinding-protection",
    "caching",
    "http-header-validation",
    "http-custom-header-server-validation",
    "sep-2640-skills-directory",
    "sep-2640-skills-enumeration",
    "sep-2640-skills-manifest",
    "input-required-result-basic-sampling",
    "input-required-result-missing-input-response",
    "input-required-result-result-type",
    "input-required-result-unsupported-methods",
    "input-required-result-ignore-extra-params",
    "input-required-result-validate-input",
    "server-stateless",
    "tools-call-with-logging",
    "input-required-result-basic-elicitation",
    "input-required-result-request-state",
    "input-required-result-multi-round",
    "input-required-result-tampered-state",
    "input-required-result-capability-check",
    "input-required-result-non-tool-request",
    "input-required-result-basic-list-roots",
    "input-required-result-multiple-input-requests",
}
# Server scenarios waiting for other work: none today.
SERVER_PENDING: dict[str, str] = {}

CLIENT_PASS = {
    "initialize",
    "tools_call",
    "elicitation-sep1034-client-defaults",
    "sse-retry",
    "request-metadata",
    "http-standard-headers",
    "http-custom-headers",
    "json-schema-ref-no-deref",
    "json-schema-2020-12-preservation",
    "http-invalid-tool-headers",
    "sep-2322-client-request-state",
}
# Client scenarios waiting for other work: none today.
CLIENT_PENDING: dict[str, str] = {}
# 2026-07-28 client scenarios need that version named; the rest run at the default.
CLIENT_2026 = {"request-metadata", "sep-2322-client-request-state"} | {
    s for s in CLIENT_PASS | set(CLIENT_PENDING) if s.startswith(("http-", "json-schema-ref"))
}


def _classified(name: str) -> bool:
    return (
        name in SERVER_PASS
        or name in SERVER_PENDING
        or name in NOT_APPLICABLE
        or name in CLIENT_PASS
        or name in CLIENT_PENDING
        or (name.startswith("auth/") and "auth/*" in NOT_APPLICABLE)
    )


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("conformance")
    fixture = {"command": sys.executable, "args": [str(FIXTURE)], "namespace": False}
    write_config(root / "config", mcp={"mcpServers": {"conformance": fixture}})
    running = start(root)
    running.http().get("/v1/tools", params={"wait": 20})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server_results(
    router: Woollama, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Outcome]]:
    """Every server scenario of both suites, run once against the router."""
    url = f"http://{router.address}/mcp"
    results = {}
    # 0.1 runs its default (active) scenarios; 0.2 every one, pending and extensions too.
    for version, extra in (("0.1", ()), ("0.2", ("--suite", "all", "--timeout", "15000"))):
        out = tmp_path_factory.mktemp(f"server-{version}")
        args = ("server", "--url", url, "-o", str(out), *extra)
        stdout = suite.run(version, *args, timeout=120)
        suite.summary(f"server scenarios, conformance {version}", stdout)
        results[version] = suite.outcomes(out, prefix="server-")
    return results


@pytest.fixture(scope="module")
def client_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every non-OAuth client scenario, a few at a time (each starts a woollama)."""
    out = tmp_path_factory.mktemp("client")
    command = f"{sys.executable} {CLIENT}"

    def one(scenario: str) -> str:
        spec = ("--spec-version", "2026-07-28") if scenario in CLIENT_2026 else ()
        args = ("client", "--command", command, "--scenario", scenario, *spec)
        stdout = suite.run("0.2", *args, "--timeout", "60000", "-o", str(out), timeout=120)
        return suite.summary(f"client scenario {scenario}, conformance 0.2", stdout)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, sorted(CLIENT_PASS | set(CLIENT_PENDING))))
    return suite.outcomes(out)


def _pending(table: dict[str, str]) -> list:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=reason, strict=False))
        for name, reason in sorted(table.items())
    ]


@pytest.mark.parametrize("scenario", [*sorted(SERVER_PASS), *_pending(SERVER_PENDING)])
def test_server_scenario_passes(server_results: dict[str, dict[str, Outcome]], scenario: str):
    for version, outcomes in server_results.items():
        if scenario in outcomes:
            outcome = outcomes[scenario]
            assert outcome.ok, f"conformance {version}: {outcome.failures()}"
    assert any(scenario in outcomes for outcomes in server_results.values())


def test_every_server_scenario_is_accounted_for(server_results: dict[str, dict[str, Outcome]]):
    ran = {name for outcomes in server_results.values() for name in outcomes}
    assert not {name for name in ran if not _classified(name)}


def test_sse_streams_open_with_a_priming_event_and_a_retry_hint(
    server_results: dict[str, dict[str, Outcome]],
):
    polling = server_results["0.2"]["server-sse-polling"]
    assert polling.check("server-sse-priming-event")["status"] == "SUCCESS"
    retry = polling.check("server-sse-retry-field")
    assert retry["status"] == "SUCCESS"
    assert retry["details"]["retryValue"] == 1000


def test_header_values_with_surrounding_whitespace_are_trimmed(
    server_results: dict[str, dict[str, Outcome]],
):
    headers = server_results["0.2"]["http-header-validation"]
    check = headers.check("sep-2243-server-accepts-whitespace-header-value")
    assert check["status"] == "SUCCESS", check


@pytest.mark.parametrize("scenario", [*sorted(CLIENT_PASS), *_pending(CLIENT_PENDING)])
def test_client_scenario_passes(client_results: dict[str, Outcome], scenario: str):
    assert scenario in client_results
    outcome = client_results[scenario]
    assert outcome.ok, outcome.failures()
    assert outcome.passed > 0


def test_every_client_scenario_but_oauth_runs():
    listing = suite.run("0.2", "list", "--client", timeout=60)
    names = {line.split()[1] for line in listing.splitlines() if line.strip().startswith("- ")}
    extensions = {line.split()[1] for line in listing.splitlines() if "[extension]" in line}
    missing = names - extensions - CLIENT_PASS - set(CLIENT_PENDING)
    assert {name for name in missing if not name.startswith("auth/")} == set()


def _sse_events(text: str) -> list[dict[str, str]]:
    """The events of an SSE body, each as its fields (`data: ` with no value is "")."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if fields:
            events.append(fields)
    return events


async def test_a_dropped_stream_resumes_with_last_event_id(router: Woollama):
    """A 2025-era client loses its stream mid-call and gets the result on reconnecting."""
    url = f"http://{router.address}/mcp"
    accept = {"Accept": "application/json, text/event-stream"}
    version = {"Mcp-Protocol-Version": "2025-11-25"}
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "resume-test", "version": "1"},
        },
    }
    with anyio.fail_after(30):
        async with httpx2.AsyncClient(timeout=20) as http:
            opened = await http.post(url, json=hello, headers=accept)
            session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], **version}
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await http.post(url, json=note, headers={**accept, **session})
            call = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "test_tool_with_progress", "arguments": {}},
            }
            request = http.build_request("POST", url, json=call, headers={**accept, **session})
            response = await http.send(request, stream=True)
            first = b""
            async for chunk in response.aiter_bytes():
                first += chunk
                if b"\n\n" in first.replace(b"\r\n", b"\n"):
                    break
            await response.aclose()  # the stream drops before the result
            priming = _sse_events(first.decode())[0]
            assert priming["data"] == "" and priming["retry"] == "1000"

            headers = {**accept, **session, "Last-Event-ID": priming["id"]}
            replay = http.build_request("GET", url, headers=headers)
            resumed = await http.send(replay, stream=True)
            seen = ""
            async for text in resumed.aiter_text():
                seen += text
                if '"id":7' in seen and seen.replace("\r\n", "\n").endswith("\n\n"):
                    break
            await resumed.aclose()
    results = [e for e in _sse_events(seen) if e.get("data")]
    assert any('"id":7' in e["data"] and '"result"' in e["data"] for e in results), seen


async def test_the_event_store_forgets_the_oldest_events_first():
    store = BoundedEventStore(max_events=3)
    note = JSONRPCNotification(jsonrpc="2.0", method="notifications/progress")
    first = await store.store_event("a", None)
    kept = [await store.store_event("a", note) for _ in range(3)]
    assert store.size == 3
    replayed: list[EventMessage] = []

    async def collect(event: EventMessage) -> None:
        replayed.append(event)

    assert await store.replay_events_after(first, collect) is None  # forgotten: nothing sent
    assert await store.replay_events_after(kept[0], collect) == "a"
    assert [e.event_id for e in replayed] == kept[1:]


def test_the_scenarios_that_cannot_apply_are_listed_in_the_docs():
    docs = (HERE.parents[1] / "docs" / "mcp.md").read_text()
    section = docs[docs.index("## Conformance") :]
    table = section[section.index("cannot apply") : section.index("do not pass yet")]
    listed = re.findall(r"^\| `([^`]+)`", table, flags=re.MULTILINE)
    for name in NOT_APPLICABLE:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in listed), name
