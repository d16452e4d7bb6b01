"""The status page in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import fake_inferencer
from tests.observability.test_health import gated_server
from tests.tools.support import HELLO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
TOKEN = "page-token-5d1e"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    try:
        yield page
    finally:
        # The artefact a person looks at when this fails, and when it passes.
        page.screenshot(path=str(tmp_path / "status-page.png"), full_page=True)
        context.close()


def server_row(page: Page, name: str):
    return page.locator(f"#servers tbody tr[data-name='{name}']")


def test_the_page_shows_servers_health_changes_and_failures(
    woollama, fake_openai: FakeOpenAI, page: Page, tmp_path: Path
):
    gate = tmp_path / "gate"
    server = woollama(
        inferencers=fake_inferencer(fake_openai),
        mcp={
            "mcpServers": {
                "hello": {"command": sys.executable, "args": [str(HELLO)]},
                "late": gated_server(gate),
            }
        },
        env={"WOOLLAMA_TOKEN": TOKEN},
    )
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"http://{server.address}/")

    # A token is configured: the page asks for it before showing anything.
    expect(page.locator("#token-box")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#main")).to_be_hidden()
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    expect(page.locator("#main")).to_be_visible(timeout=WAIT_MS)

    expect(server_row(page, "hello").locator("td").nth(2)).to_have_text(
        "connected", timeout=WAIT_MS
    )
    expect(server_row(page, "hello").locator("td").nth(3)).to_have_text("3")
    late = server_row(page, "late").locator("td").nth(2)
    expect(late).to_have_text("connecting")
    expect(page.locator("#ready")).to_have_text("starting")

    gate.touch()  # the late server starts: the page follows without a reload
    expect(late).to_have_text("connected", timeout=WAIT_MS)
    expect(page.locator("#ready")).to_have_text("ready", timeout=WAIT_MS)

    # The try box: an answer, then a failure that shows up among the failed requests.
    page.fill("#try-model", "fake/fake-model")
    page.fill("#try-prompt", "hello page")
    page.click("#try-send")
    expect(page.locator("#try-output")).to_have_text("echo: hello page", timeout=WAIT_MS)
    page.fill("#try-model", "woollama/missing")
    page.click("#try-send")
    expect(page.locator("#try-output")).to_contain_text("HTTP 404", timeout=WAIT_MS)
    failure = page.locator("#failures tbody tr").filter(has_text="woollama/missing")
    expect(failure).to_have_count(1, timeout=WAIT_MS)
    expect(failure.locator("td").nth(3)).to_have_text("404")
    recent = page.locator("#recent tbody tr").filter(has_text="fake/fake-model")
    expect(recent.first).to_be_visible(timeout=WAIT_MS)

    assert urls, "the page made no requests"
    assert not [u for u in urls if TOKEN in u], "the token went into a URL"
    assert TOKEN not in page.content()


def test_the_page_itself_loads_without_the_token_but_its_data_does_not(woollama):
    server = woollama(mcp={"mcpServers": {}}, env={"WOOLLAMA_TOKEN": TOKEN})
    with server.http() as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert http.get("/static/app.js").status_code == 200
        assert http.get("/v1/status").status_code == 401
        assert http.get("/static/secret.txt").status_code == 401
        assert http.post("/", json={}).status_code == 401
