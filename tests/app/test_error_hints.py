"""A refused patient says how to fix it: a measurement out of range names
its unit and range (cholesterol, how to convert from mmol/L), a field left
out says that null means "not measured". On main at c58ae8a, cholesterol in
mmol/L (5.2) got "Input should be greater than or equal to 50" and a field
left out "Field required"."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.clinical.fhir_inputs import MMOL_CHOLESTEROL
from model.features import EXAMPLE_PATIENT


def _detail(client: TestClient, body: dict[str, object], route: str = "/predict") -> dict:
    r = client.post(route, json=body)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["error"]["details"]
    return detail  # type: ignore[no-any-return]


def test_cholesterol_in_mmol_per_litre_names_the_unit_and_the_conversion(
    shared_client: TestClient,
) -> None:
    detail = _detail(shared_client, {**EXAMPLE_PATIENT, "serum_cholesterol": 5.2})
    assert detail["field"] == "serum_cholesterol"
    message = detail["message"]
    assert "mg/dl" in message and f"times {MMOL_CHOLESTEROL} is mg/dL" in message
    assert "accepted: " in message
    assert 5.2 * MMOL_CHOLESTEROL >= 50  # the hint, followed, is accepted
    fixed = {**EXAMPLE_PATIENT, "serum_cholesterol": round(5.2 * MMOL_CHOLESTEROL, 1)}
    assert shared_client.post("/predict", json=fixed).status_code == 200


def test_a_blood_pressure_out_of_range_names_its_unit(shared_client: TestClient) -> None:
    detail = _detail(shared_client, {**EXAMPLE_PATIENT, "resting_blood_pressure": 900})
    assert "mm Hg" in detail["message"] and "mmol" not in detail["message"]


def test_a_field_left_out_says_null_means_not_measured(shared_client: TestClient) -> None:
    body = {k: v for k, v in EXAMPLE_PATIENT.items() if k != "thal"}
    detail = _detail(shared_client, body)
    assert detail["field"] == "thal" and detail["type"] == "missing"
    assert '"thal": null if it was not measured' in detail["message"]
    in_batch = _detail(shared_client, {"patients": [body]}, "/predict/batch")
    assert in_batch["message"] == detail["message"]
