"""The risk page in a real browser: Debian's headless chromium, driven by
Playwright, against a live server launched from the loopback test EHR
(tests/smart_ehr.py). The launch end to end to a prefilled page whose
probability is /predict's; a what-if and "back to the chart's values" by
keyboard alone; a value refused, with the service's message beside it;
print emulation (one page, with the record's id); axe-core with no
violation, at 100% and at 200% zoom with nothing cut off; no request leaves
loopback. The screenshot is saved to artifacts/risk-page.png."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.test_cds_hooks import charted
from tests.app.test_docs_browser import ROOT, browser  # noqa: F401 (the fixture)
from tests.app.test_fhir_inputs import example_chart
from tests.app.test_smart_launch import NAMED, _example_row
from tests.conftest import free_port, start_server, wait_ready
from tests.smart_ehr import SmartEhr

pytestmark = pytest.mark.slow  # a real server, a test EHR and a browser


@pytest.fixture
def launched(artifact_path: Path, tmp_path: Path) -> Iterator[tuple[Any, SmartEhr]]:
    """A live server set up for the test EHR's launches."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with SmartEhr([NAMED, *charted(*example_chart())]) as ehr:
        ehr.redirect_uri = f"{url}/smart/callback"
        clients = tmp_path / "smart-clients.json"
        clients.write_text(json.dumps([ehr.client_entry()]))
        env = {
            "MODEL_PATH": str(artifact_path),
            "PORT": str(port),
            "PUBLIC_BASE_URL": url,
            "SMART_CLIENTS_FILE": str(clients),
            "AUDIT_DSN": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        }
        server = start_server(env, tmp_path / "server.log")
        try:
            wait_ready(server)
            yield server, ehr
        finally:
            server.process.terminate()
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()


def _percent(page: Any) -> str:
    return str(page.locator("#answer [data-percent]").get_attribute("data-percent"))


def _predicted(server: Any, **changes: float) -> str:
    p = httpx.post(f"{server.url}/predict", json={**_example_row(), **changes}).json()
    return f"{p['probability'] * 100:.0f}"


def _tab_to(page: Any, element_id: str, most: int = 80) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with Tab")


def _updated(page: Any, before: str) -> None:
    page.wait_for_function(
        "b => document.querySelector('#answer [data-percent]').dataset.percent !== b", arg=before
    )


def test_the_page_launched_from_the_ehr(browser: Any, launched: Any) -> None:  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    server, ehr = launched
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(ehr.launch_url(server.url), wait_until="networkidle")
    assert page.url == f"{server.url}/app" and ehr.problems == []
    assert page.locator("#f-resting_blood_pressure").input_value() == "130"
    first = _percent(page)
    assert first == _predicted(server)

    _tab_to(page, "f-resting_blood_pressure")  # a what-if by keyboard alone
    page.keyboard.press("Control+A")
    page.keyboard.type("180")
    _updated(page, first)
    assert _percent(page) == _predicted(server, resting_blood_pressure=180.0)
    page.keyboard.press("Control+A")
    page.keyboard.type("500")  # refused: the service's own message beside the field
    error = page.locator("#e-resting_blood_pressure")
    error.wait_for(state="visible")
    assert "50 to 250 mm Hg" in error.inner_text()
    assert page.locator("#f-resting_blood_pressure").get_attribute("aria-invalid") == "true"
    _tab_to(page, "back-to-chart")
    page.keyboard.press("Enter")
    assert _percent(page) == first
    assert page.locator("#f-resting_blood_pressure").input_value() == "130"

    violations = Axe().run(page).response["violations"]
    assert violations == [], [v["id"] for v in violations]
    screenshot = ROOT / "artifacts" / "risk-page.png"
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)

    page.emulate_media(media="print")
    assert not page.locator("#back-to-chart").is_visible()
    assert page.locator(".record-id").is_visible() and page.locator("#s-age").is_visible()
    record_id = page.locator(".record-id").inner_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", record_id)
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one printed page

    assert all(r.startswith(("http://127.0.0.1:", "data:")) for r in requests), requests


def test_the_page_at_200_percent_zoom_loses_nothing(browser: Any, launched: Any) -> None:  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    server, ehr = launched
    page = browser.new_page(viewport={"width": 640, "height": 500})  # 1280 px at 200%
    page.goto(ehr.launch_url(server.url), wait_until="networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert page.locator("#f-thal").is_visible() and page.locator(".contributions").is_visible()
    violations = Axe().run(page).response["violations"]
    assert violations == [], [v["id"] for v in violations]
