"""The CDS Hooks service end to end: discovery, calls answered from the
prefetch or from a real FHIR server on loopback (tests/ehr.py), 412 when
neither can supply the data, 400/404, the card against /predict, units,
panels and statuses, and feedback. (The JWT checks: test_cds_security.py.)"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.riskassessment import RiskAssessment

from app.clinical import prefetch
from app.clinical.fhir_inputs import LOINC, OWN_SYSTEM
from tests.app.test_fhir_inputs import PATIENT, _obs, _quantity, example_chart
from tests.app.test_prefetch import FIELD_OF, _bundle, full_prefetch
from tests.ehr import FhirServer
from tests.metrics_helpers import sample

SERVICE = "/cds-services/heart-disease-risk"
EXAMPLE = {"age": 54, "sex": 1, "chest_pain_type": 4, "resting_blood_pressure": 130,
           "serum_cholesterol": 245, "fasting_blood_sugar": 0, "resting_ecg": 2,
           "max_heart_rate": 150, "exercise_induced_angina": 0, "st_depression": 1.0,
           "st_slope": 2, "num_major_vessels": 0, "thal": 3}  # fmt: skip
"""The example patient of tests.app.test_fhir_inputs (54 on 2026-12-01) as /predict takes it."""


def hook(prefetched: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A patient-view call for patient p1, shaped like the spec's example."""
    body = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": "patient-view",
        "context": {"userId": "Practitioner/example", "patientId": "p1", "encounterId": "89284"},
        **fields,
    }
    if prefetched is not None:
        body["prefetch"] = prefetched
    return body


def the_card(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(SERVICE, json=body)
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    return card  # type: ignore[no-any-return]


def probability(card: dict[str, Any]) -> float:
    resource = card["suggestions"][0]["actions"][0]["resource"]
    RiskAssessment.model_validate(resource)
    return float(resource["prediction"][0]["probabilityDecimal"])


def charted(*observations: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**o, "subject": {"reference": "Patient/p1"}} for o in observations]


@pytest.fixture()
def today_54(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls answered on 2026-12-01, the day the example patient is 54."""
    from datetime import datetime as real

    class Frozen(real):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return real(2026, 12, 1, 9, 30, tzinfo=tz)

    monkeypatch.setattr("app.clinical.cds_routes.datetime", Frozen)
    monkeypatch.setattr("app.clinical.fhir_routes.datetime", Frozen)


def test_discovery_names_one_patient_view_service_with_the_templates(
    shared_client: TestClient,
) -> None:
    (service,) = shared_client.get("/cds-services").json()["services"]
    assert service["hook"] == "patient-view" and service["id"] == "heart-disease-risk"
    assert service["prefetch"] == prefetch.templates()
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert set(service["prefetch"]) == {"patient", *FIELD_OF.values()}


@pytest.mark.usefixtures("today_54")
def test_full_prefetch_gives_predicts_probability(shared_client: TestClient) -> None:
    card = the_card(shared_client, hook(full_prefetch()))
    predicted = shared_client.post("/predict", json=EXAMPLE).json()
    assert abs(probability(card) - predicted["probability"]) <= 1e-12
    assert f"{predicted['probability']:.0%}" in card["summary"] and len(card["summary"]) < 140
    assert "not on file" not in card["summary"]
    assert card["indicator"] == ("warning" if predicted["probability"] >= 0.5 else "info")
    assert card["source"]["url"] == "http://testserver/model"
    assert card["selectionBehavior"] == "at-most-one" and len(card["suggestions"]) == 1


@pytest.mark.usefixtures("today_54")
def test_too_little_on_file_is_a_card_saying_what_is_missing(shared_client: TestClient) -> None:
    nothing = {key: None for key in prefetch.templates()}
    nothing["thal"] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    card = the_card(shared_client, hook(nothing))
    assert "13 of 13 inputs not on file" in card["summary"]
    assert card["detail"].count("the probability would be between") == 13
    missing = {k: None for k in EXAMPLE}
    predicted = shared_client.post("/predict", json=missing).json()
    assert abs(probability(card) - predicted["probability"]) <= 1e-12


@pytest.mark.usefixtures("today_54")
def test_mmol_and_mg_cholesterol_and_glucose_give_the_same_probability(
    shared_client: TestClient,
) -> None:
    in_mmol = full_prefetch()
    in_mmol["serum_cholesterol"] = _bundle(
        _obs("chol", LOINC, "14647-2", **_quantity(245 / 38.67, "mmol/L"))
    )
    in_mmol["fasting_blood_sugar"] = _bundle(
        _obs("glucose", LOINC, "14771-0", **_quantity(95 / 18.016, "mmol/L"))
    )
    card = the_card(shared_client, hook(in_mmol))
    assert (
        abs(probability(card) - probability(the_card(shared_client, hook(full_prefetch())))) <= 1e-9
    )
    assert f"{245 / 38.67:g} mmol/L | Observation/chol" in card["detail"]  # shown as charted


@pytest.mark.usefixtures("today_54")
def test_blood_pressure_from_a_panel(shared_client: TestClient) -> None:
    panel = {
        **_obs("panel", LOINC, "85354-9"),
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, **_quantity(130, "mm[Hg]")},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, **_quantity(85, "mm[Hg]")},
        ],
    }
    body = hook({**full_prefetch(), "resting_blood_pressure": _bundle(panel)})
    card = the_card(shared_client, body)
    assert "Observation/panel" in card["detail"]
    assert (
        abs(probability(card) - probability(the_card(shared_client, hook(full_prefetch()))))
        <= 1e-12
    )


@pytest.mark.usefixtures("today_54")
def test_an_amended_result_counts_and_a_newer_preliminary_one_does_not(
    shared_client: TestClient,
) -> None:
    amended = _obs("chol-amended", LOINC, "2093-3", when="2026-10-01", status="amended",
                   **_quantity(300, "mg/dL"))  # fmt: skip
    preliminary = _obs("chol-new", LOINC, "2093-3", when="2026-11-30", status="preliminary",
                       **_quantity(180, "mg/dL"))  # fmt: skip
    body = hook({**full_prefetch(), "serum_cholesterol": _bundle(preliminary, amended)})
    card = the_card(shared_client, body)
    assert "300 mg/dL | Observation/chol-amended" in card["detail"]
    assert "chol-new" not in card["detail"]
    expected = shared_client.post("/predict", json={**EXAMPLE, "serum_cholesterol": 300}).json()
    assert abs(probability(card) - expected["probability"]) <= 1e-12


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("hook"), "hook"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b.update(hook="order-sign"), "hook"),
        (lambda b: b["context"].update(patientId="p1/../x"), "context.patientId"),
        (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer"}), None),
    ],
    ids=["no-hook", "no-hookInstance", "no-patientId", "other-hook", "bad-id", "token-no-server"],
)
def test_a_malformed_call_gets_400_naming_the_field(
    shared_client: TestClient, change: Any, field: str | None
) -> None:
    body = hook(full_prefetch())
    change(body)
    response = shared_client.post(SERVICE, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_cds_request"
    assert field is None or field in [d["field"] for d in error["details"]]


def test_another_patients_resources_are_refused(shared_client: TestClient) -> None:
    other = full_prefetch()
    other["thal"]["entry"][0]["resource"]["subject"] = {"reference": "Patient/p2"}
    response = shared_client.post(SERVICE, json=hook(other))
    assert response.status_code == 400 and "another patient" in response.json()["error"]["message"]
    wrong_patient = {**full_prefetch(), "patient": {**PATIENT, "id": "p2"}}
    assert shared_client.post(SERVICE, json=hook(wrong_patient)).status_code == 400


def test_an_unknown_service_is_404(shared_client: TestClient) -> None:
    response = shared_client.post("/cds-services/no-such-service", json=hook(full_prefetch()))
    assert response.status_code == 404
    assert "heart-disease-risk" in response.json()["error"]["message"]


def test_missing_keys_without_a_fhir_server_get_412_naming_them(shared_client: TestClient) -> None:
    partial = {k: v for k, v in full_prefetch().items() if k not in ("thal", "patient")}
    response = shared_client.post(SERVICE, json=hook(partial))
    assert response.status_code == 412
    error = response.json()["error"]
    assert error["code"] == "prefetch_unavailable"
    assert sorted(d["field"] for d in error["details"]) == ["prefetch.patient", "prefetch.thal"]


def test_an_operation_outcome_in_the_prefetch_means_not_fetched(shared_client: TestClient) -> None:
    failed = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    response = shared_client.post(SERVICE, json=hook({**full_prefetch(), "thal": failed}))
    assert response.status_code == 412
    assert [d["field"] for d in response.json()["error"]["details"]] == ["prefetch.thal"]


@pytest.mark.usefixtures("today_54")
def test_keys_not_sent_are_read_from_the_fhir_server_with_the_token(
    shared_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with FhirServer([PATIENT, *charted(*example_chart())]) as fhir:
        partial = {k: v for k, v in full_prefetch().items() if k in ("patient", "thal", "st_slope")}
        body = hook(partial, fhirServer=fhir.url,
                    fhirAuthorization={"access_token": "secret-fhir-token-123",
                                       "token_type": "Bearer", "expires_in": 300,
                                       "scope": "user/Patient.read user/Observation.read",
                                       "subject": "cds-service4"})  # fmt: skip
        with caplog.at_level(logging.DEBUG):
            card = the_card(shared_client, body)
        assert fhir.requests == 9  # the 12 prefetch keys less the three sent
        assert fhir.seen_tokens == ["secret-fhir-token-123"] * 9
    predicted = shared_client.post("/predict", json=EXAMPLE).json()
    assert abs(probability(card) - predicted["probability"]) <= 1e-12
    assert "secret-fhir-token-123" not in caplog.text


@pytest.mark.usefixtures("today_54")
def test_a_fully_unprefetched_call_reads_all_thirteen_inputs(shared_client: TestClient) -> None:
    with FhirServer([PATIENT, *charted(*example_chart())]) as fhir:
        card = the_card(shared_client, hook(None, fhirServer=fhir.url))
        assert fhir.requests == 12  # the Patient and 11 Observation searches
    predicted = shared_client.post("/predict", json=EXAMPLE).json()
    assert abs(probability(card) - predicted["probability"]) <= 1e-12


@pytest.mark.parametrize("trouble", ["fails", "slow", "down"])
def test_a_failing_fhir_server_gets_412(
    client: TestClient, trouble: str, caplog: pytest.LogCaptureFixture
) -> None:
    client.app.state.fhir_reader.timeout = 0.3  # type: ignore[attr-defined]
    with FhirServer([PATIENT, *charted(*example_chart())]) as fhir:
        fhir.fail = 503 if trouble == "fails" else None
        fhir.delay = 1.0 if trouble == "slow" else 0.0
        url = fhir.url
        body = hook({k: v for k, v in full_prefetch().items() if k != "thal"}, fhirServer=url)
        if trouble != "down":
            response = client.post(SERVICE, json=body)
    if trouble == "down":
        response = client.post(SERVICE, json=body)  # nothing listens there now
    assert response.status_code == 412
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "prefetch.thal"
    expected = {
        "fails": "answered 503",
        "slow": "did not answer in time",
        "down": "cannot be reached",
    }
    assert expected[trouble] in detail["message"]


def test_a_patient_not_on_the_fhir_server_is_not_on_file(shared_client: TestClient) -> None:
    with FhirServer(charted(*example_chart())) as fhir:  # no Patient resource
        partial = {k: v for k, v in full_prefetch().items() if k != "patient"}
        card = the_card(shared_client, hook(partial, fhirServer=fhir.url))
    assert "2 of 13 inputs not on file" in card["summary"]


def _counted(client: TestClient, outcome: str) -> float:
    return sample(client.get("/metrics").text, "heart_cds_feedback_total", outcome=outcome)


SPEC_FEEDBACK = [
    {"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "accepted",
                   "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                   "outcomeTimestamp": "2021-12-11T10:05:31Z"}]},
    {"feedback": [{"card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb", "outcome": "overridden",
                   "outcomeTimestamp": "2020-12-11T00:00:00Z"}]},
    {"feedback": [{"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "overridden",
                   "overrideReason": {"reason": {"code": "d7ecf885",
                                                 "system": "https://example.com/cds-hooks/override-reason-system"},
                                      "userComment": "A comment entered by the clinician."},
                   "outcomeTimestamp": "2020-12-11T00:00:00Z"}]},
]  # fmt: skip
"""The three feedback examples of the CDS Hooks 2.0 specification."""


@pytest.mark.parametrize("example", SPEC_FEEDBACK, ids=["accepted", "overridden", "with-reason"])
def test_the_specs_feedback_examples_are_accepted_and_counted(
    shared_client: TestClient, example: dict[str, Any]
) -> None:
    outcome = example["feedback"][0]["outcome"]
    before = _counted(shared_client, outcome)
    response = shared_client.post(f"{SERVICE}/feedback", json=example)
    assert response.status_code == 200 and response.json() == {"received": 1}
    after = _counted(shared_client, outcome)
    assert after == before + 1


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.pop("card"),
        lambda f: f.update(outcome="ignored"),
        lambda f: f.pop("outcomeTimestamp"),
        lambda f: f.update(outcomeTimestamp="yesterday"),
        lambda f: f.update(outcomeTimestamp="2021-12-11T10:05:31"),  # no time zone
        lambda f: f.pop("acceptedSuggestions"),  # required when accepted
        lambda f: f.update(overrideReason={"userComment": "no"}),  # only when overridden
    ],
    ids=["no-card", "bad-outcome", "no-time", "bad-time", "naive-time", "no-suggestions",
         "reason-on-accepted"],
)  # fmt: skip
def test_malformed_feedback_gets_400_and_is_not_counted(
    shared_client: TestClient, change: Any
) -> None:
    body = copy.deepcopy(SPEC_FEEDBACK[0])
    change(body["feedback"][0])
    before = _counted(shared_client, "accepted")
    response = shared_client.post(f"{SERVICE}/feedback", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cds_request"
    assert _counted(shared_client, "accepted") == before


def test_own_codes_in_templates_are_the_documented_ones() -> None:
    thal = prefetch.templates()["thal"]
    assert f"code={OWN_SYSTEM}|thal&" in thal


SPEC_CALL = {
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "http://hooks.smarthealthit.org:9080",
    "hook": "patient-view",
    "fhirAuthorization": {"access_token": "some-opaque-fhir-access-token", "token_type": "Bearer",
                          "expires_in": 300, "scope": "user/Patient.read user/Observation.read",
                          "subject": "cds-service4"},
    "context": {"userId": "Practitioner/example", "patientId": "1288992", "encounterId": "89284"},
    "prefetch": {"patientToGreet": {"resourceType": "Patient", "gender": "male",
                                    "birthDate": "1925-12-23", "id": "1288992", "active": True}},
}  # fmt: skip
"""The call example of the CDS Hooks 2.0 specification, verbatim."""


@pytest.mark.usefixtures("today_54")
def test_the_specs_example_call_is_answered_from_its_fhir_server(shared_client: TestClient) -> None:
    """Its prefetch key is another service's (ignored), so every key is read
    from the FHIR server: here one on loopback, holding the spec's patient."""
    patient = SPEC_CALL["prefetch"]["patientToGreet"]  # type: ignore[index]
    chart = [{**o, "subject": {"reference": "Patient/1288992"}} for o in example_chart()]
    with FhirServer([patient, *chart]) as fhir:
        card = the_card(shared_client, {**SPEC_CALL, "fhirServer": fhir.url})
        assert fhir.seen_tokens == ["some-opaque-fhir-access-token"] * 12
    born_1925 = {**EXAMPLE, "age": 100}  # on 2026-12-01
    predicted = shared_client.post("/predict", json=born_1925).json()
    assert abs(probability(card) - predicted["probability"]) <= 1e-12
    assert "not on file" not in card["summary"]


def test_the_docs_page_lists_the_cds_and_fhir_routes_under_their_own_tags(
    shared_client: TestClient,
) -> None:
    paths = shared_client.get("/openapi.json").json()["paths"]
    tags = {(path, method): op["tags"] for path, ops in paths.items() for method, op in ops.items()}
    assert tags["/cds-services", "get"] == ["CDS Hooks"]
    assert tags["/cds-services/{service_id}", "post"] == ["CDS Hooks"]
    assert tags["/cds-services/{service_id}/feedback", "post"] == ["CDS Hooks"]
    assert tags["/fhir/RiskAssessment/$assess", "post"] == ["FHIR"]
    assert tags["/fhir/CodeSystem/heart-disease-features", "get"] == ["FHIR"]
