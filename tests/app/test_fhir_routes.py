"""The FHIR routes: `$assess` answers the RiskAssessment of a Bundle (valid
R4B, /predict's probability) or an OperationOutcome naming what is wrong;
the own CodeSystem is valid R4B and names every code the service reads."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.riskassessment import RiskAssessment

from app.clinical import prefetch
from app.clinical.fhir_inputs import ANSWERS, OWN_SYSTEM
from tests.app.test_cds_hooks import EXAMPLE, today_54  # noqa: F401  (a fixture)
from tests.app.test_fhir_inputs import PATIENT, example_chart

ASSESS = "/fhir/RiskAssessment/$assess"


def bundle(*resources: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


@pytest.mark.usefixtures("today_54")
@pytest.mark.parametrize("drop", [(), ("thal", "vessels", "slope")], ids=["full", "missing"])
def test_assess_answers_the_risk_assessment_with_predicts_probability(
    shared_client: TestClient, drop: tuple[str, ...]
) -> None:
    chart = [o for o in example_chart() if o["id"] not in drop]
    response = shared_client.post(
        ASSESS, json=bundle(PATIENT, *chart), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    resource = response.json()
    RiskAssessment.model_validate(resource)
    fields = {"thal": "thal", "vessels": "num_major_vessels", "slope": "st_slope"}
    patient = {**EXAMPLE, **{fields[d]: None for d in drop}}
    predicted = shared_client.post("/predict", json=patient).json()
    assert abs(resource["prediction"][0]["probabilityDecimal"] - predicted["probability"]) <= 1e-12
    assert resource["subject"] == {"reference": "Patient/p1"}
    assert len(resource["basis"]) == 1 + len(chart)


BAD: dict[str, tuple[Any, int, str]] = {
    "not-json": (b"{", 400, "not JSON"),
    "not-a-bundle": (PATIENT, 400, "must be a FHIR Bundle"),
    "searchset": ({**bundle(PATIENT), "type": "searchset"}, 400, "collection"),
    "entry-not-list": ({**bundle(PATIENT), "entry": {}}, 400, "Bundle.entry"),
    "no-patient": (bundle(*example_chart()), 422, "exactly one Patient"),
    "two-patients": (bundle(PATIENT, {**PATIENT, "id": "p2"}), 422, "exactly one Patient"),
    "patient-without-id": (bundle({"resourceType": "Patient"}), 422, "with an id"),
    "entry-no-resource": ({**bundle(PATIENT), "entry": [{"fullUrl": "x"}]}, 422, "FHIR resource"),
    "another-patients-observation": (
        bundle(PATIENT, {**example_chart()[0], "subject": {"reference": "Patient/p2"}}),
        422,
        "another patient",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_assess_refuses_with_an_operation_outcome(shared_client: TestClient, case: str) -> None:
    body, status, says = BAD[case]
    content = body if isinstance(body, bytes) else None
    response = shared_client.post(
        ASSESS,
        content=content,
        json=None if content is not None else body,
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == status
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    assert says in outcome["issue"][0]["diagnostics"] + " ".join(
        outcome["issue"][0].get("expression", [])
    )


def test_the_code_system_is_valid_and_names_every_own_code(shared_client: TestClient) -> None:
    response = shared_client.get("/fhir/CodeSystem/heart-disease-features")
    assert response.status_code == 200
    resource = response.json()
    CodeSystem.model_validate(resource)
    assert resource["url"] == OWN_SYSTEM
    codes = [c["code"] for c in resource["concept"]]
    assert len(codes) == len(set(codes)) == resource["count"]  # codes are unique
    in_templates = {
        code.split("|")[1]
        for template in prefetch.templates().values()
        for code in template.partition("code=")[2].split("&")[0].split(",")
        if code.startswith(OWN_SYSTEM)
    }
    assert in_templates and in_templates <= set(codes)
    for field, answers in ANSWERS.items():
        for answer in answers:
            (concept,) = [c for c in resource["concept"] if c["code"] == answer]
            assert {"code": "answer-to", "valueCode": field} in concept["property"]
    (normal,) = [c for c in resource["concept"] if c["code"] == "normal"]
    assert {p["valueCode"] for p in normal["property"]} == {"resting_ecg", "thal"}
