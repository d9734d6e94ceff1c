"""The risk page's SMART EHR launch against a real test EHR on loopback
(tests/smart_ehr.py: an authorization server that checks every parameter
app-launch.md requires, and a FHIR server that takes only its tokens):
the whole redirect chain to a prefilled page, and each way a launch must
fail. The app runs in-process (TestClient, PUBLIC_BASE_URL http://testserver);
its calls to the EHR are real HTTP."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.clinical.fhir_inputs import LOINC, UCUM
from app.config import Settings
from app.main import create_app
from tests.app.test_cds_hooks import charted
from tests.app.test_fhir_inputs import PATIENT, example_chart
from tests.smart_ehr import CLIENT_ID, USER, SmartEhr

BASE = "http://testserver"
NAMED = {**PATIENT, "name": [{"given": ["Alan"], "family": "Turing"}]}


@pytest.fixture
def ehr() -> Iterator[SmartEhr]:
    with SmartEhr([NAMED, *charted(*example_chart())]) as running:
        running.redirect_uri = f"{BASE}/smart/callback"
        yield running


def _app(tmp_path: Path, *ehrs: SmartEhr, **settings: Any) -> TestClient:
    clients = tmp_path / "smart-clients.json"
    clients.write_text(json.dumps([e.client_entry() for e in ehrs]))
    return TestClient(
        create_app(
            Settings(
                smart_clients_file=clients,
                public_base_url=BASE,
                audit_dsn=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
                **settings,
            )
        ),
        base_url=BASE,
        follow_redirects=False,
    )


def _to_callback(client: TestClient, ehr: SmartEhr) -> Any:
    """/smart/launch, then the EHR's authorize: the redirect back to the callback."""
    started = client.get(ehr.launch_url(""))
    assert started.status_code == 302, started.text
    authorized = httpx.get(started.headers["location"], follow_redirects=False)
    assert authorized.status_code == 302, authorized.text
    return authorized


def _path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def _launched(client: TestClient, ehr: SmartEhr) -> Any:
    back = _to_callback(client, ehr)
    opened = client.get(_path(back.headers["location"]))
    assert opened.status_code == 303 and opened.headers["location"] == "/app", opened.text
    return client.get("/app")


def _field(html: str, name: str) -> str:
    found = re.search(rf'id="f-{name}" name="{name}" value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def test_the_whole_redirect_chain_opens_the_prefilled_page(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), _app(tmp_path, ehr, model_path=artifact_path) as client:
        started = client.get(ehr.launch_url(""))
        query = parse_qs(urlsplit(started.headers["location"]).query)
        assert {
            k: v[0] for k, v in query.items() if k not in ("state", "code_challenge", "launch")
        } == {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{BASE}/smart/callback",
            "scope": "launch openid fhirUser patient/Patient.rs patient/Observation.rs",
            "aud": ehr.iss,
            "code_challenge_method": "S256",
        }
        cookie = started.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Secure" not in cookie  # plain http: loopback
        page = _launched(client, ehr)
        predicted = client.post("/predict", json=_example_row()).json()
    assert ehr.problems == []
    assert page.status_code == 200 and "Alan Turing" in page.text
    assert _field(page.text, "resting_blood_pressure") == "130"
    assert "From Observation/bp, 2026-11-01" in page.text
    shown = re.search(r'data-percent="(\d+)"', page.text)
    assert shown and shown.group(1) == f"{predicted['probability'] * 100:.0f}"
    tokens = [r["access_token"] for r in _issued(ehr)]
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name != "httpx2"
    )  # not the test's
    for secret in tokens + [r["code"] for r in ehr.token_requests]:
        assert (
            secret not in page.text
            and secret not in logged
            and secret not in page.url.query.decode()
        )
    assert "script-src 'self'" in page.headers["content-security-policy"]
    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        rows = db.execute("SELECT route, status, caller FROM predictions").fetchall()
    assert ("/app", 200, f"{ehr.iss}/{USER}") in rows  # recorded, the caller its fhirUser


def _issued(ehr: SmartEhr) -> list[dict[str, Any]]:
    assert ehr.fhir.tokens is not None
    return [{"access_token": t} for t in ehr.fhir.tokens]


def _example_row() -> dict[str, Any]:
    from model.features import EXAMPLE_PATIENT

    born = datetime.fromisoformat(PATIENT["birthDate"]).date()
    today = datetime.now(UTC).date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return {**EXAMPLE_PATIENT, "age": float(age), "sex": 1}


def test_a_confidential_client_authenticates_with_http_basic(
    artifact_path: Path, tmp_path: Path
) -> None:
    with SmartEhr([NAMED, *charted(*example_chart())], client_secret="s3cret-of-the-page") as ehr:
        ehr.redirect_uri = f"{BASE}/smart/callback"
        with _app(tmp_path, ehr, model_path=artifact_path) as client:
            assert _launched(client, ehr).status_code == 200
    assert ehr.problems == []
    (request,) = ehr.token_requests
    assert request["authorization"].startswith("Basic ") and "client_id" not in request


def test_an_unknown_iss_is_refused_with_a_page(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr, caplog: pytest.LogCaptureFixture
) -> None:
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        r = client.get(
            "/smart/launch", params={"iss": "https://evil.example.org/fhir", "launch": "x"}
        )
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "not registered with this service" in r.text
    assert (
        "https://evil.example.org/fhir" in caplog.text
        and "not in SMART_CLIENTS_FILE" in caplog.text
    )


def test_a_state_mismatched_or_replayed_is_refused(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr
) -> None:
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        back = _path(_to_callback(client, ehr).headers["location"])
        forged = re.sub(r"state=[^&]+", "state=" + "A" * 43, back)
        assert client.get(forged).status_code == 400
        assert client.get(back).status_code == 303  # the real one, once
        replayed = client.get(back)
        assert replayed.status_code == 400 and "used already" in replayed.text
        other = _app(tmp_path, ehr, model_path=artifact_path)  # another browser, no cookie
        with other:
            stolen = _path(_to_callback(client, ehr).headers["location"])
            assert other.get(stolen).status_code == 400  # bound to the launching browser


def test_a_code_replayed_is_refused(artifact_path: Path, tmp_path: Path, ehr: SmartEhr) -> None:
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        first = parse_qs(urlsplit(_to_callback(client, ehr).headers["location"]).query)
        assert (
            client.get(
                f"/smart/callback?code={first['code'][0]}&state={first['state'][0]}"
            ).status_code
            == 303
        )
        second = parse_qs(urlsplit(_to_callback(client, ehr).headers["location"]).query)
        r = client.get(f"/smart/callback?code={first['code'][0]}&state={second['state'][0]}")
    assert r.status_code == 400 and "did not grant access" in r.text
    assert ehr.problems == ["token: a code unknown or used before"]


def test_a_wrong_verifier_is_refused_and_plain_is_never_used(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr
) -> None:
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        back = _path(_to_callback(client, ehr).headers["location"])
        for pending in client.app.state.page_sessions._launches.values():  # type: ignore[attr-defined]
            for launch in pending:
                launch.verifier = "a-verifier-that-is-not-the-one-sent-" + "x" * 10
        assert client.get(back).status_code == 400
        assert ehr.problems == ["token: the code_verifier does not match the challenge"]
        ehr.methods = ["plain"]  # an EHR without S256: no launch at all
        r = client.get(ehr.launch_url(""))
    assert r.status_code == 502 and ehr.problems == [
        "token: the code_verifier does not match the challenge"
    ]


def test_a_token_answer_without_a_patient_is_refused(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr
) -> None:
    ehr.omit_patient = True
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        r = client.get(_path(_to_callback(client, ehr).headers["location"]))
        assert r.status_code == 400 and "did not grant access to a patient" in r.text
        assert client.get("/app").status_code == 401


def test_fhir_answering_401_is_met_with_a_refresh(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr
) -> None:
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        assert _launched(client, ehr).status_code == 200
        ehr.expire_tokens()
        again = client.get("/app")
        assert again.status_code == 200 and ehr.refreshes == 1
        assert _field(again.text, "resting_blood_pressure") == "130"
        refresh = ehr.token_requests[-1]
        assert refresh["grant_type"] == "refresh_token" and refresh["client_id"] == CLIENT_ID


def test_without_a_refresh_token_an_expired_session_says_open_it_again(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr
) -> None:
    ehr.grant_refresh = False
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        assert _launched(client, ehr).status_code == 200
        ehr.expire_tokens()
        r = client.get("/app")
        assert r.status_code == 401 and "open it again from the EHR" in r.text
        assert client.get("/app").status_code == 401  # the session is over


def test_cholesterol_in_mmol_per_litre_is_shown_in_its_unit_and_converted(
    artifact_path: Path, tmp_path: Path
) -> None:
    chart = [o for o in example_chart() if o["id"] != "chol"]
    chol = {
        "resourceType": "Observation",
        "id": "chol-si",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "14647-2"}]},
        "effectiveDateTime": "2026-10-20",
        "valueQuantity": {"value": 6.2, "system": UCUM, "code": "mmol/L", "unit": "mmol/L"},
    }
    with SmartEhr([NAMED, *charted(*chart, chol)]) as ehr:
        ehr.redirect_uri = f"{BASE}/smart/callback"
        with _app(tmp_path, ehr, model_path=artifact_path) as client:
            page = _launched(client, ehr)
            same = client.post(
                "/predict", json={**_example_row(), "serum_cholesterol": 6.2 * 38.67}
            )
    assert _field(page.text, "serum_cholesterol") == "6.2"
    assert re.search(r'<option value="mmol/L" selected>', page.text)
    assert "(charted: 6.2 mmol/L)" in page.text
    shown = re.search(r'data-percent="(\d+)"', page.text)
    assert shown and shown.group(1) == f"{same.json()['probability'] * 100:.0f}"


def test_a_chart_without_observations_leaves_every_test_not_measured(
    artifact_path: Path, tmp_path: Path
) -> None:
    with SmartEhr([NAMED]) as ehr:
        ehr.redirect_uri = f"{BASE}/smart/callback"
        with _app(tmp_path, ehr, model_path=artifact_path) as client:
            page = _launched(client, ehr)
    assert page.status_code == 200
    assert page.text.count("Not on file: not measured.") == 11  # all but age and sex
    assert _field(page.text, "age") != "" and _field(page.text, "resting_blood_pressure") == ""


def test_the_card_links_to_the_page_once_smart_clients_are_set(
    artifact_path: Path, tmp_path: Path, ehr: SmartEhr, shared_client: TestClient
) -> None:
    from tests.app.test_cds_hooks import SERVICE, hook
    from tests.app.test_prefetch import full_prefetch

    call = hook(full_prefetch())
    assert "links" not in shared_client.post(SERVICE, json=call).json()["cards"][0]
    with _app(tmp_path, ehr, model_path=artifact_path) as client:
        (card,) = client.post(SERVICE, json=call).json()["cards"]
    assert card["links"] == [
        {
            "label": "Open the risk page",
            "url": f"{BASE}/smart/launch",
            "type": "smart",
            "appContext": card["uuid"],
        }
    ]


def test_the_page_fails_closed_once_a_key_is_set(artifact_path: Path, tmp_path: Path) -> None:
    from model.features import EXAMPLE_PATIENT

    open_app = create_app(Settings(model_path=artifact_path, audit="off"))
    with TestClient(open_app) as client:  # local development: the standalone page
        assert client.get("/app").status_code == 200
        assert client.post("/app/answer", json=EXAMPLE_PATIENT).status_code == 200
        other_site = client.post(
            "/app/answer", json=EXAMPLE_PATIENT, headers={"Origin": "https://elsewhere.example"}
        )
        assert other_site.status_code == 403
        form = client.post(
            "/app/answer",
            content=b"age=54",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 415  # a form another site posts never gets an answer
    keyed = create_app(Settings(model_path=artifact_path, audit="off", api_key="k" * 20))
    with TestClient(keyed) as client:
        page = client.get("/app")
        assert page.status_code == 401 and "Open the risk page from the EHR" in page.text
        assert client.get("/app", headers={"X-API-Key": "k" * 20}).status_code == 401  # no key
        r = client.post("/app/answer", json=EXAMPLE_PATIENT)
        assert r.status_code == 401 and r.json()["error"]["code"] == "page_unauthorized"
