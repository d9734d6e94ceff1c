"""/explain and /explain/batch, the interval and warnings of every answer,
their metrics, and what /model says about them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from tests.conftest import HIGH_RISK_PATIENT
from tests.metrics_helpers import sample
from tests.tolerances import assert_probabilities_close

PATIENT = dict(EXAMPLE_PATIENT)
ODD = {**PATIENT, "age": 25, "serum_cholesterol": 550, "max_heart_rate": 210, "st_depression": 5}


def _prediction_fields(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("base_value", "contributions")}


@pytest.mark.parametrize("patient", [PATIENT, HIGH_RISK_PATIENT, ODD], ids=["low", "high", "odd"])
def test_explain_answers_the_prediction_and_exact_contributions(
    client: TestClient, patient: dict[str, Any]
) -> None:
    r = client.post("/explain", json=patient)
    assert r.status_code == 200, r.text
    body = r.json()
    predicted = client.post("/predict", json=patient).json()
    assert _prediction_fields(body) == predicted  # the /predict fields, the same values
    contributions = body["contributions"]
    assert sorted(c["field"] for c in contributions) == sorted(FEATURE_NAMES)
    sizes = [abs(c["contribution"]) for c in contributions]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    assert {c["field"]: c["value"] for c in contributions} == patient
    total = body["base_value"] + sum(c["contribution"] for c in contributions)
    assert total == pytest.approx(body["probability"], abs=1e-9)


def test_explain_batch_answers_in_order(client: TestClient) -> None:
    patients = [PATIENT, HIGH_RISK_PATIENT, ODD]
    r = client.post("/explain/batch", json={"patients": patients})
    assert r.status_code == 200
    batch = r.json()["explanations"]
    singles = [client.post("/explain", json=p).json() for p in patients]
    for b, s in zip(batch, singles, strict=True):
        assert_probabilities_close(b["probability"], s["probability"])
        assert [c["field"] for c in b["contributions"]] == [c["field"] for c in s["contributions"]]
        for cb, cs in zip(b["contributions"], s["contributions"], strict=True):
            assert cb["contribution"] == pytest.approx(cs["contribution"], abs=1e-12)


def test_explain_batch_limit_is_max_explain_batch(artifact_path: Path) -> None:
    app = create_app(Settings(model_path=artifact_path, max_explain_batch=2))
    with TestClient(app) as c:
        assert c.post("/explain/batch", json={"patients": [PATIENT] * 2}).status_code == 200
        r = c.post("/explain/batch", json={"patients": [PATIENT] * 3})
        assert c.post("/predict/batch", json={"patients": [PATIENT] * 3}).status_code == 200
    assert r.status_code == 422
    [detail] = r.json()["error"]["details"]
    assert detail["field"] == "patients" and "MAX_EXPLAIN_BATCH" in detail["message"]


def test_every_answer_has_an_interval_around_the_ensemble(client: TestClient) -> None:
    for route, body in (
        ("/predict", PATIENT),
        ("/predict/batch", {"patients": [PATIENT, HIGH_RISK_PATIENT]}),
        ("/explain", PATIENT),
        ("/explain/batch", {"patients": [HIGH_RISK_PATIENT]}),
    ):
        r = client.post(route, json=body).json()
        answers = r.get("predictions") or r.get("explanations") or [r]
        for a in answers:
            interval = a["interval"]
            assert set(interval) == {"low", "high", "level"} and interval["level"] == 0.9
            assert 0 <= interval["low"] <= interval["high"] <= 1


def test_warnings_name_the_fields_and_the_atypical_combination(client: TestClient) -> None:
    assert client.post("/predict", json=PATIENT).json()["warnings"] == []
    r = client.post("/predict", json=ODD)
    assert r.status_code == 200  # never a refusal
    warnings = r.json()["warnings"]
    assert {(w["code"], w.get("field")) for w in warnings} == {
        ("outside_training_range", "age"),
        ("outside_training_range", "max_heart_rate"),
        ("atypical_patient", None),
    }
    atypical = next(w for w in warnings if w["code"] == "atypical_patient")
    assert "field" not in atypical and "Mahalanobis" in atypical["message"]


def test_metrics_count_warnings_by_code(client: TestClient) -> None:
    before = client.get("/metrics").text
    client.post("/predict", json=ODD)
    client.post("/predict/batch", json={"patients": [ODD, PATIENT, ODD]})
    client.post("/explain", json=ODD)
    after = client.get("/metrics").text

    def delta(code: str) -> float:
        name = "heart_warnings_total"
        return sample(after, name, code=code) - sample(before, name, code=code)

    assert delta("atypical_patient") == 4
    assert delta("outside_training_range") == 8  # age and heart rate, 4 times


def test_model_lists_the_trust_signals_and_their_rates(client: TestClient) -> None:
    info = client.get("/model").json()
    assert info["ensemble"]["size"] >= 20 and info["ensemble"]["level"] == 0.9
    assert 0 <= info["ensemble"]["held_out_coverage"] <= 1
    assert info["background"]["size"] >= 20 and "stratified" in info["background"]["drawn"]
    assert info["background"]["mean_abs_change_other_backgrounds"] >= 0
    assert info["warnings"]["threshold"] > 0
    assert 0 < info["warnings"]["out_of_fold_flagged"] <= 0.02


def test_a_full_explanation_backlog_answers_503_at_once(client: TestClient) -> None:
    from app.api.explain import ROUTES
    from app.guards.admission import EXPLAIN_BACKLOG, EXPLAIN_PATHS, EXPLANATIONS

    assert {r.path.encode() for r in ROUTES} == EXPLAIN_PATHS  # what the door refuses
    EXPLANATIONS.pending = EXPLAIN_BACKLOG  # as many patients waiting as allowed
    try:
        r = client.post("/explain", json=EXAMPLE_PATIENT)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "overloaded"
        assert "EXPLAIN_BACKLOG" in r.json()["error"]["message"]  # its own cause, not MAX_CONC...
        EXPLANATIONS.pending = EXPLAIN_BACKLOG - 1  # room for one more patient, not two
        assert client.post("/explain", json=EXAMPLE_PATIENT).status_code == 200
        two = {"patients": [EXAMPLE_PATIENT] * 2}
        assert client.post("/explain/batch", json=two).status_code == 503
        EXPLANATIONS.pending = 0  # an idle worker takes any batch MAX_EXPLAIN_BATCH allows
        patients = {"patients": [EXAMPLE_PATIENT] * (EXPLAIN_BACKLOG + 10)}
        assert client.post("/explain/batch", json=patients).status_code == 200
        EXPLANATIONS.pending = 1
        assert client.post("/explain/batch", json=patients).status_code == 503
    finally:
        EXPLANATIONS.pending = 0
    assert client.post("/explain", json=EXAMPLE_PATIENT).status_code == 200
    assert EXPLANATIONS.pending == 0  # every admitted patient counted out again


def test_the_explanation_backlog_counts_patients_in_flight_only() -> None:
    from app.guards.admission import EXPLAIN_BACKLOG, Backlog

    backlog = Backlog(EXPLAIN_BACKLOG)
    assert not backlog.full(EXPLAIN_BACKLOG + 50)  # an idle worker takes anything
    backlog.pending = EXPLAIN_BACKLOG - 2
    assert not backlog.full(2)
    assert backlog.full(3)
    backlog.pending = 0
    assert not backlog.full(1)
