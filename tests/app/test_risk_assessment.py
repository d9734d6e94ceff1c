"""The FHIR RiskAssessment of an answer (`app.clinical.risk_assessment`):
valid against fhir.resources' R4B model, with the probability /predict gives
for the same inputs, its basis, method, band and rationale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.riskassessment import RiskAssessment
from pydantic import ValidationError

from app.clinical.fhir_inputs import inputs
from app.clinical.risk_assessment import qualitative, risk_assessment
from tests.app.test_fhir_inputs import PATIENT, TODAY, example_chart

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("drop", [(), ("thal", "vessels", "slope")], ids=["full", "missing"])
def test_the_resource_is_valid_r4b_and_carries_predicts_probability(
    shared_client: TestClient, drop: tuple[str, ...]
) -> None:
    chart = [o for o in example_chart() if o["id"] not in drop]
    readings = inputs(PATIENT, chart, TODAY)
    patient = {r.field: r.value for r in readings}
    predictor = shared_client.app.state.predictor  # type: ignore[attr-defined]
    (answer,) = predictor.assess([list(patient.values())])
    resource = risk_assessment("p1", readings, answer, predictor.version, WHEN)
    RiskAssessment.model_validate(resource)  # raises on anything R4B does not allow
    with pytest.raises(ValidationError):  # and it does check: an unknown element is refused
        RiskAssessment.model_validate({**resource, "probability": 0.4})
    predicted = shared_client.post("/predict", json=patient).json()
    prediction = resource["prediction"][0]
    assert prediction["probabilityDecimal"] == pytest.approx(predicted["probability"], abs=1e-12)
    assert prediction["outcome"]["coding"][0]["code"] == "53741008"
    assert resource["method"]["coding"][0]["version"] == predicted["model_version"]
    basis = [b["reference"] for b in resource["basis"]]
    assert basis[0] == "Patient/p1" and len(basis) == 1 + len(chart)
    assert all(f"Observation/{o['id']}" in basis for o in chart)
    assert (
        f"{predicted['interval']['low']:.2f} to {predicted['interval']['high']:.2f}"
        in (prediction["rationale"])
    )
    for m in predicted.get("missing", []):
        low, high = m["if_measured"]["low"], m["if_measured"]["high"]
        assert (
            f"{m['field']} (measuring it could move the probability to {low:.2f}-{high:.2f})"
            in (prediction["rationale"])
        )
    assert resource["subject"] == {"reference": "Patient/p1"}
    assert resource["occurrenceDateTime"] == "2026-12-01T09:30:00+00:00"


@pytest.mark.parametrize(
    ("p", "band"), [(0.0, "low"), (0.199, "low"), (0.2, "moderate"), (0.5, "high"), (1.0, "high")]
)
def test_qualitative_bands(p: float, band: str) -> None:
    assert qualitative(p)["code"] == band
