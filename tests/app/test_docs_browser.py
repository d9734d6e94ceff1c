"""The OpenAPI docs page works offline, in a real browser.

Playwright (PyPI) drives Debian's headless chromium against a live server:
open /docs, expand POST /predict and POST /explain, "Try it out",
"Execute" with the documented example, and see a 200 with a probability
(and, for /explain, the contributions). Any request to a host
other than the server fails the test. The screenshot is saved to
artifacts/docs-screenshot.png.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # a real server and a browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Any:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: apt-get install chromium (.ci/run does)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _try_it_out(page: Any, operation_id: str) -> tuple[str, str]:
    """Expand an operation, "Try it out", "Execute"; its status and body."""
    operation = page.locator(f"#{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response").first
    live.wait_for(timeout=15_000)
    status = live.locator(".response-col_status").inner_text().strip()
    return status, live.locator(".response-col_description pre").first.inner_text()


def test_try_it_out_on_the_docs_page(browser: Any, live_server: Any) -> None:
    with live_server() as server:
        page = browser.new_page(viewport={"width": 1280, "height": 3000})
        elsewhere: list[str] = []
        local = (server.url, "data:", f"blob:{server.url}")
        page.on("request", lambda r: None if r.url.startswith(local) else elsewhere.append(r.url))

        page.goto(f"{server.url}/docs", wait_until="networkidle")
        status, body = _try_it_out(page, "operations-predictions-predict_predict_post")
        explain_status, explained = _try_it_out(
            page, "operations-explanations-explain_explain_post"
        )
        screenshot = ROOT / "artifacts" / "docs-screenshot.png"
        screenshot.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)

        page.goto(f"{server.url}/redoc", wait_until="networkidle")
        heading = page.locator("h2", has_text="Estimate one patient's probability")
        heading.first.wait_for(timeout=15_000)  # ReDoc rendered the operation

    assert status == "200"
    assert '"probability"' in body and '"class"' in body and '"interval"' in body
    assert explain_status == "200"
    assert '"contributions"' in explained and '"base_value"' in explained
    assert elsewhere == [], f"the docs pages fetched from other hosts: {elsewhere}"
