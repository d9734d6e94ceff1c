"""Every route under one declared policy (app.policy): a route without one
stops the app from being built; with API keys set, every route that is not
open answers 401 to a call without credentials, before reading its body;
$assess is recorded like /predict; CDS Hooks calls fail closed once keys are
set and no EHR is listed."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from app.policy import Caller, enforce, policy_of, routes

KEY = "a-scoring-key-of-some-length"
FILLED = {"{model_name}": "heart-disease", "{model_version}": "1", "{service_id}":
          "heart-disease-risk", "{answer_id}": "x"}  # fmt: skip


def _url(path: str) -> str:
    for template, value in FILLED.items():
        path = path.replace(template, value)
    return path


def test_every_route_and_operation_has_a_policy(artifact_path: Path) -> None:
    app = create_app(Settings(model_path=artifact_path))
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    declared = {getattr(r, "path", None): policy_of(r) for r in routes(app)}
    assert all(policy is not None for policy in declared.values())
    for path in spec["paths"]:
        assert declared.get(path) is not None, path


def test_a_route_without_a_policy_stops_the_build() -> None:
    app = FastAPI(openapi_url=None)

    @app.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/forgotten declares no policy"):
        enforce(app, ehr_check=lambda request: None)  # type: ignore[arg-type,return-value]


def test_with_keys_set_every_closed_route_answers_401_before_its_body(
    artifact_path: Path,
) -> None:
    settings = Settings(model_path=artifact_path, api_key=KEY)
    app = create_app(settings)
    closed = [r for r in routes(app) if policy_of(r).caller is not Caller.OPEN]  # type: ignore[union-attr]
    assert {getattr(r, "path", "") for r in closed} >= {
        "/predict", "/predict/batch", "/explain", "/explain/batch", "/fhir/RiskAssessment/$assess",
        "/v2/models/{model_name}/infer", "/cds-services/{service_id}", "/audit/predictions",
    }  # fmt: skip
    with TestClient(app) as client:
        for route in closed:
            for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
                r = client.request(
                    method, _url(route.path), content=b'{"not": "valid"',  # type: ignore[attr-defined]
                    headers={"content-type": "application/json"},
                )  # fmt: skip
                assert r.status_code == 401, (method, route.path, r.status_code)  # type: ignore[attr-defined]
        assert client.request("TRACE", "/cds-services").status_code == 405  # method first
        v2 = client.post(_url("/v2/models/{model_name}/infer"), json={})
        assert v2.status_code == 401 and isinstance(v2.json()["error"], str)  # V2's shape


def test_cds_hooks_fail_closed_once_api_keys_are_set(artifact_path: Path) -> None:
    from tests.app.test_cds_hooks import SERVICE, hook
    from tests.app.test_prefetch import full_prefetch

    call = hook(full_prefetch())
    with TestClient(create_app(Settings(model_path=artifact_path))) as open_client:
        assert open_client.post(SERVICE, json=call).status_code == 200  # local development
    keyed = create_app(Settings(model_path=artifact_path, api_key=KEY))
    with TestClient(keyed) as client:
        assert client.post(SERVICE, json=call).status_code == 401
        with_key = client.post(SERVICE, json=call, headers={"X-API-Key": KEY})
        assert with_key.status_code == 401  # an API key is no EHR's signature


def test_assess_needs_a_key_and_is_recorded(artifact_path: Path, tmp_path: Path) -> None:
    from tests.app.test_fhir_inputs import PATIENT, example_chart
    from tests.app.test_fhir_routes import bundle

    record = tmp_path / "audit.sqlite3"
    settings = Settings(model_path=artifact_path, api_key=KEY, audit_dsn=f"sqlite:///{record}")
    with TestClient(create_app(settings)) as client:
        body = bundle(PATIENT, *example_chart())
        assert client.post("/fhir/RiskAssessment/$assess", json=body).status_code == 401
        r = client.post("/fhir/RiskAssessment/$assess", json=body, headers={"X-API-Key": KEY})
        assert r.status_code == 200 and r.json()["resourceType"] == "RiskAssessment"
    with sqlite3.connect(record) as db:
        rows = db.execute("SELECT route, status, caller, outputs FROM predictions").fetchall()
    assert [(route, status) for route, status, _, _ in rows] == [
        ("/fhir/RiskAssessment/$assess", 401), ("/fhir/RiskAssessment/$assess", 200)
    ]  # fmt: skip
    assert rows[1][2] == "default" and '"RiskAssessment"' in rows[1][3]


def test_an_api_key_shorter_than_the_files_minimum_stops_the_start() -> None:
    """API_KEY=abc started silently on main at c58ae8a, while a key in
    API_KEYS_FILE needs 16 characters or more."""
    with pytest.raises(ValidationError, match="API_KEY must be 16 characters or more"):
        Settings(api_key="abc")
    assert Settings(api_key="x" * 16).api_key is not None


@pytest.mark.parametrize("keyed", [False, True], ids=["no-keys", "keys"])
def test_start_up_names_every_route_group_open_to_anyone(
    artifact_path: Path, caplog: pytest.LogCaptureFixture, keyed: bool
) -> None:
    settings = Settings(model_path=artifact_path, api_key=KEY if keyed else None, audit="off")
    with caplog.at_level(logging.INFO, logger="app"), TestClient(create_app(settings)):
        pass
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("open to")]
    assert "operations (/health, /metrics, /ready)" in line
    assert ("predictions (/predict, /predict/batch)" in line) is not keyed
    assert ("CDS Hooks (" in line) is not keyed
    assert "audit" not in line  # the record's routes always need an audit key
    assert ("no API key is set (API_KEY" in caplog.text) is not keyed


def test_a_trailing_slash_is_the_same_route_under_the_same_policy(artifact_path: Path) -> None:
    """POST /predict/ got a bare 307 before the key check on main at c58ae8a."""
    from model.features import EXAMPLE_PATIENT

    app = create_app(Settings(model_path=artifact_path, api_key=KEY, audit="off"))
    with TestClient(app, follow_redirects=False) as client:
        refused = client.post("/predict/", json=EXAMPLE_PATIENT)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        keyed = {"X-API-Key": KEY}
        with_slash = client.post("/predict/", json=EXAMPLE_PATIENT, headers=keyed)
        without = client.post("/predict", json=EXAMPLE_PATIENT, headers=keyed)
        assert with_slash.status_code == 200 and with_slash.json() == without.json()
        assert client.get("/health/").status_code == 200
        missing = client.get("/no-such-route/")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_every_tag_and_operation_says_what_it_is_for(artifact_path: Path) -> None:
    """/openapi.json had eight tags and 26 operations without one description
    (main at a3fc0b3)."""
    with TestClient(create_app(Settings(model_path=artifact_path, audit="off"))) as client:
        spec = client.get("/openapi.json").json()
    tags = {t["name"]: t["description"] for t in spec["tags"]}
    used = {op["tags"][0] for item in spec["paths"].values() for op in item.values()}
    assert used <= set(tags) and all(len(d) > 40 for d in tags.values())
    predict = spec["paths"]["/predict"]["post"]["description"]
    assert predict.startswith("For applications") and "Who may call it: an API key" in predict
    assert "recorded" in predict
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert "Who may call it" in operation["description"], (method, path)
    assert "Which API for what" in spec["info"]["description"]
