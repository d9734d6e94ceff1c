"""The CDS Hooks card of an answer (`app.clinical.card`): its summary,
indicator, source, detail and the RiskAssessment its suggestion creates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.riskassessment import RiskAssessment

from app.clinical.card import WARNING_FROM, card
from app.clinical.fhir_inputs import inputs
from tests.app.test_fhir_inputs import PATIENT, TODAY, example_chart

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _card(client: TestClient, chart: list[dict]) -> tuple[dict, dict]:  # type: ignore[type-arg]
    readings = inputs(PATIENT, chart, TODAY)
    predictor = client.app.state.predictor  # type: ignore[attr-defined]
    (explained,) = predictor.explain([[r.value for r in readings]])
    made = card("p1", readings, explained, predictor.version, "https://x.example/model", WHEN)
    patient = {r.field: r.value for r in readings}
    return made, client.post("/explain", json=patient).json()


@pytest.mark.parametrize("drop", [(), ("thal", "vessels", "slope", "chol")], ids=["full", "gaps"])
def test_the_card_says_what_predict_says(shared_client: TestClient, drop: tuple[str, ...]) -> None:
    chart = [o for o in example_chart() if o["id"] not in drop]
    made, explained = _card(shared_client, chart)
    p, interval = explained["probability"], explained["interval"]
    assert len(made["summary"]) < 140 and f"{p:.0%}" in made["summary"]
    assert f"{interval['low']:.0%}-{interval['high']:.0%}" in made["summary"]
    assert made["indicator"] == ("warning" if p >= WARNING_FROM else "info")
    assert made["source"]["url"] == "https://x.example/model" and made["source"]["label"]
    assert made["selectionBehavior"] == "at-most-one" and len(made["suggestions"]) == 1
    (action,) = made["suggestions"][0]["actions"]
    assert action["type"] == "create"
    RiskAssessment.model_validate(action["resource"])
    probability = action["resource"]["prediction"][0]["probabilityDecimal"]
    assert probability == pytest.approx(p, abs=1e-12)
    detail = made["detail"]
    for o in chart:
        assert f"Observation/{o['id']}" in detail  # every input used, with its source
    top = explained["contributions"][0]
    assert f"by {abs(top['contribution']) * 100:.1f} points" in detail
    for m in explained.get("missing", []):
        low, high = m["if_measured"]["low"], m["if_measured"]["high"]
        assert f"between {low:.0%} and {high:.0%}" in detail
    assert ("not on file" in made["summary"]) == bool(drop)


def test_a_charted_value_that_cannot_be_used_is_named_in_the_detail(
    shared_client: TestClient,
) -> None:
    chart = example_chart()
    chol = next(o for o in chart if o["id"] == "chol")
    chol["valueQuantity"] = {**chol["valueQuantity"], "code": "mg", "unit": "mg"}
    made, _ = _card(shared_client, chart)
    assert "**Charted but not used**" in made["detail"]
    assert "(Observation/chol): unit 'mg', not mg/dL" in made["detail"]
