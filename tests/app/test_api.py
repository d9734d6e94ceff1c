"""The HTTP API through FastAPI's TestClient (lifespan runs inside `with`)."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from model.artifact import load_artifact
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.serving import Predictor
from tests.conftest import HIGH_RISK_PATIENT
from tests.tolerances import assert_probabilities_close

PATIENT = dict(EXAMPLE_PATIENT)
SICK = HIGH_RISK_PATIENT


@cache
def _predictor(artifact_path: Path) -> Predictor:
    return Predictor(load_artifact(artifact_path))


def _expected(artifact_path: Path, patient: dict[str, Any]) -> float:
    """/predict's answer: the predictor's assessment of one row, to the last bit."""
    row = [float(patient[f]) for f in FEATURE_NAMES]
    return _predictor(artifact_path).assess([row])[0].probability


def test_predict_answers_probability_class_label_and_version(
    client: TestClient, artifact_path: Path
) -> None:
    r = client.post("/predict", json=PATIENT)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"probability", "class", "label", "model_version", "interval", "warnings"}
    assert body["probability"] == pytest.approx(_expected(artifact_path, PATIENT), abs=1e-15)
    assert body["class"] == int(body["probability"] >= 0.5)
    assert body["label"] == ("presence" if body["class"] else "absence")
    assert body["model_version"] == load_artifact(artifact_path).metadata["model_version"]


def test_a_high_risk_patient_is_classed_presence(client: TestClient) -> None:
    low = client.post("/predict", json=PATIENT).json()
    high = client.post("/predict", json=SICK).json()
    assert high["probability"] > low["probability"]
    assert high["class"] == 1 and high["label"] == "presence"


def test_integers_are_accepted_for_measurements_and_floats_kept(
    client: TestClient, artifact_path: Path
) -> None:
    fractional = {**PATIENT, "age": 54.5, "st_depression": 0}
    r = client.post("/predict", json=fractional)
    assert r.status_code == 200
    # 54.5 is scored as 54.5 (not rounded to an integer), 0 as 0.0
    got = r.json()["probability"]
    assert got == pytest.approx(_expected(artifact_path, fractional), abs=1e-15)
    assert got != pytest.approx(_expected(artifact_path, {**fractional, "age": 54}), abs=1e-9)
    assert got != pytest.approx(_expected(artifact_path, {**fractional, "age": 55}), abs=1e-9)


def test_whole_floats_count_as_integers_as_in_json_schema(client: TestClient) -> None:
    as_ints = client.post("/predict", json=PATIENT).json()
    as_floats = client.post(
        "/predict", json={**PATIENT, "thal": 3.0, "sex": 1.0, "num_major_vessels": 0.0}
    ).json()
    assert as_floats == as_ints


def test_whole_floats_in_a_batch_count_as_integers(client: TestClient) -> None:
    as_ints = client.post("/predict/batch", json={"patients": [PATIENT, SICK]}).json()
    floats = {**SICK, "thal": float(SICK["thal"]), "sex": float(SICK["sex"])}
    as_floats = client.post("/predict/batch", json={"patients": [PATIENT, floats]}).json()
    assert as_floats == as_ints


def test_openapi_declares_the_request_bodies_the_routes_read(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, model in (("/predict", "Patient"), ("/predict/batch", "BatchRequest")):
        body = spec["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"
        }
    assert list(schemas["Patient"]["properties"]) == list(FEATURE_NAMES)
    assert schemas["Patient"]["additionalProperties"] is False
    assert schemas["BatchRequest"]["properties"]["patients"]["items"] == {
        "$ref": "#/components/schemas/Patient"
    }


def test_batch_answers_in_order_and_equals_single_answers(client: TestClient) -> None:
    patients = [PATIENT, SICK, {**PATIENT, "age": 70}]
    r = client.post("/predict/batch", json={"patients": patients})
    assert r.status_code == 200
    batch = r.json()["predictions"]
    singles = [client.post("/predict", json=p).json() for p in patients]
    # A matrix product over 3 rows may round differently from one over 1 row
    # in the last bit; everything else must be identical.
    for b, s in zip(batch, singles, strict=True):
        assert_probabilities_close(b["probability"], s.pop("probability"))
        b_interval, s_interval = b.pop("interval"), s.pop("interval")
        ends = ("low", "high")
        assert_probabilities_close([b_interval[e] for e in ends], [s_interval[e] for e in ends])
        assert b_interval["level"] == s_interval["level"]
        assert {k: v for k, v in b.items() if k != "probability"} == s


def test_batch_of_max_batch_is_accepted(artifact_path: Path) -> None:
    app = create_app(Settings(model_path=artifact_path, max_batch=5))
    with TestClient(app) as c:
        assert c.post("/predict/batch", json={"patients": [PATIENT] * 5}).status_code == 200
        r = c.post("/predict/batch", json={"patients": [PATIENT] * 6})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "patients"
    assert "at most 5" in r.json()["error"]["details"][0]["message"]


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in PATIENT.items() if k != field}


JSON = {"content-type": "application/json"}

# (id, raw body or JSON value, headers, status, field the error must name or None)
INVALID: list[tuple[str, Any, dict[str, str], int, str | None]] = [
    ("missing-field", _without("thal"), JSON, 422, "thal"),
    ("extra-field", {**PATIENT, "weight": 80}, JSON, 422, "weight"),
    ("string-number", {**PATIENT, "age": "54"}, JSON, 422, "age"),
    ("string-code", {**PATIENT, "sex": "male"}, JSON, 422, "sex"),
    ("boolean-code", {**PATIENT, "sex": True}, JSON, 422, "sex"),
    ("boolean-number", {**PATIENT, "age": False}, JSON, 422, "age"),
    ("fractional-code", {**PATIENT, "thal": 3.5}, JSON, 422, "thal"),
    ("float-count", {**PATIENT, "num_major_vessels": 1.5}, JSON, 422, "num_major_vessels"),
    ("unknown-thal", {**PATIENT, "thal": 4}, JSON, 422, "thal"),
    ("boolean-thal", {**PATIENT, "thal": True}, JSON, 422, "thal"),
    # Found by schemathesis: a float within rounding of a whole number is not one.
    ("tiny-float-count", {**PATIENT, "num_major_vessels": 2.6e-42}, JSON, 422, "num_major_vessels"),
    ("near-whole-code", {**PATIENT, "sex": 1.0000000000000002}, JSON, 422, "sex"),
    ("unknown-chest-pain", {**PATIENT, "chest_pain_type": 0}, JSON, 422, "chest_pain_type"),
    ("unknown-ecg", {**PATIENT, "resting_ecg": 3}, JSON, 422, "resting_ecg"),
    ("age-too-low", {**PATIENT, "age": 5}, JSON, 422, "age"),
    ("age-too-high", {**PATIENT, "age": 130}, JSON, 422, "age"),
    ("negative-bp", {**PATIENT, "resting_blood_pressure": -1}, JSON, 422, "resting_blood_pressure"),
    ("cholesterol-in-mmol", {**PATIENT, "serum_cholesterol": 6.2}, JSON, 422, "serum_cholesterol"),
    ("vessels-4", {**PATIENT, "num_major_vessels": 4}, JSON, 422, "num_major_vessels"),
    ("null-body", b"null", JSON, 422, None),
    ("nan-literal", b'{"age": NaN}', JSON, 422, "age"),
    ("infinity-literal", b'{"age": Infinity}', JSON, 422, "age"),
    ("1e999", b'{"age": 1e999}', JSON, 422, "age"),
    ("array-body", [PATIENT], JSON, 422, None),
    ("scalar-body", 42, JSON, 422, None),
    ("empty-body", b"", JSON, 422, None),
    ("invalid-json", b'{"age": 54,', JSON, 400, None),
    ("invalid-utf8", b'{"age": "\xff\xfe"}', JSON, 400, None),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, JSON, 400, None),
    ("text-plain", b"{}", {"content-type": "text/plain"}, 415, None),
    ("no-content-type", b"{}", {}, 415, None),
    ("form-encoded", b"age=54", {"content-type": "application/x-www-form-urlencoded"}, 415, None),
]


INVALID.append(("body-over-1-MiB", b'{"age": ' + b" " * (1024 * 1024) + b"54}", JSON, 413, None))


def _case(route: str, case: tuple[str, Any, dict[str, str], int, str | None]) -> Any:
    """A row of INVALID for `route`; for a batch, the defect sits in its one patient."""
    name, body, headers, status, field = case
    batch = route.endswith("/batch")
    if batch and not isinstance(body, bytes):
        body, field = {"patients": [body]}, (f"patients.0.{field}" if field else None)
    elif batch:
        field = None
    return pytest.param(route, body, headers, status, field, id=f"{route}:{name}")


@pytest.mark.parametrize(
    ("route", "body", "headers", "status", "field"),
    [
        _case(route, case)
        for route in ("/predict", "/predict/batch", "/explain", "/explain/batch")
        for case in INVALID
    ],
)
def test_invalid_requests_get_a_clear_4xx(
    shared_client: TestClient,
    artifact_path: Path,
    route: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    content = body if isinstance(body, bytes) else None
    kwargs: dict[str, Any] = {"content": content} if content is not None else {"json": body}
    r = shared_client.post(route, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if field is not None:
        assert field in [d["field"] for d in error["details"]]
    # The service keeps answering, and correctly, right after.
    after = shared_client.post("/predict", json=PATIENT)
    assert after.status_code == 200
    assert after.json()["probability"] == _expected(artifact_path, PATIENT)


BATCH_INVALID: list[tuple[str, Any, int, str | None]] = [
    ("empty-batch", {"patients": []}, 422, "patients"),
    ("no-patients-key", {}, 422, "patients"),
    ("patients-not-list", {"patients": PATIENT}, 422, "patients"),
    ("patients-null", {"patients": None}, 422, "patients"),
    ("a-null-patient", {"patients": [PATIENT, None]}, 422, "patients.1"),
    ("one-bad-patient", {"patients": [PATIENT, {**PATIENT, "thal": 5}]}, 422, "patients.1.thal"),
    ("extra-top-level", {"patients": [PATIENT], "x": 1}, 422, "x"),
    ("over-max-batch", {"patients": [PATIENT] * 1001}, 422, "patients"),
]


@pytest.mark.parametrize(
    ("body", "status", "field"), [c[1:] for c in BATCH_INVALID], ids=[c[0] for c in BATCH_INVALID]
)
def test_invalid_batches_get_a_clear_4xx(
    shared_client: TestClient, body: Any, status: int, field: str | None
) -> None:
    r = shared_client.post("/predict/batch", json=body)
    assert r.status_code == status
    assert field in [d["field"] for d in r.json()["error"]["details"]]


def test_unknown_route_and_wrong_method_use_the_error_shape(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/predict")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_health_ready_and_model(client: TestClient, artifact_path: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    info = client.get("/model").json()
    artifact = load_artifact(artifact_path)
    assert info["artifact_sha256"] == artifact.sha256
    assert info["model_version"] == artifact.metadata["model_version"]
    assert [f["name"] for f in info["features"]] == list(FEATURE_NAMES)
    thal = next(f for f in info["features"] if f["name"] == "thal")
    assert thal["codes"] == {"3": "normal", "6": "fixed defect", "7": "reversible defect"}
    age = info["features"][0]
    assert (age["unit"], age["minimum"], age["maximum"]) == ("years", 18, 120)
    assert info["threshold"] == 0.5
    assert set(info["metrics"]["held_out"]) == {"accuracy", "roc_auc", "log_loss", "brier"}


def test_ready_is_503_when_the_self_test_fails(artifact_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(Predictor, "self_test", lambda self: "self-test probability differs")
    with TestClient(create_app(Settings(model_path=artifact_path))) as c:
        r = c.get("/ready")
        assert r.status_code == 503
        assert r.json() == {"status": "not ready", "detail": "self-test probability differs"}
        assert c.get("/health").status_code == 200
        refused = c.post("/predict", json=PATIENT)  # a suspect model answers no patient
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"


def test_ready_is_503_before_startup(artifact_path: Path) -> None:
    c = TestClient(create_app(Settings(model_path=artifact_path)))  # no `with`: no lifespan
    assert c.get("/ready").status_code == 503
    r = c.post("/predict", json=PATIENT)
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"


def test_openapi_documents_examples_and_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    patient = spec["components"]["schemas"]["Patient"]
    assert list(patient["properties"]) == list(FEATURE_NAMES)
    assert patient["additionalProperties"] is False
    for name, prop in patient["properties"].items():
        assert prop.get("description"), name
        assert prop.get("examples"), name

    def present(prop: dict[str, Any]) -> dict[str, Any]:  # the non-null branch of a nullable
        (branch,) = [b for b in prop["anyOf"] if b.get("type") != "null"]
        assert {"type": "null"} in prop["anyOf"]
        return branch

    assert patient["required"] == list(FEATURE_NAMES)  # required, though each may be null
    for prop in patient["properties"].values():
        present(prop)
    assert present(patient["properties"]["thal"])["enum"] == [3, 6, 7]
    assert present(patient["properties"]["age"])["minimum"] == 18
    for path in ("/predict", "/predict/batch"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"200", "400", "413", "415", "422", "503"} <= set(responses)
        assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse"
        )
    prediction = spec["components"]["schemas"]["Prediction"]
    assert "class" in prediction["properties"]


def test_patient_values_never_reach_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = 123.456789
    with caplog.at_level(logging.DEBUG):
        client.post("/predict", json={**PATIENT, "serum_cholesterol": marker})
        client.post("/predict", json={**PATIENT, "serum_cholesterol": "123.456789"})
        client.post("/predict", json={**PATIENT, "age": 1234.56789})
        client.app.state.telemetry.flush()  # type: ignore[attr-defined]
    out = capsys.readouterr()
    text = caplog.text + out.out + out.err
    assert "123.456789" not in text and "1234.56789" not in text


@pytest.mark.parametrize("value", [2, -1, True, "male", 0.5])
def test_a_wrong_code_is_explained_with_the_codes_allowed(client: TestClient, value: Any) -> None:
    r = client.post("/predict", json={**PATIENT, "sex": value})
    assert r.status_code == 422
    [detail] = r.json()["error"]["details"]
    assert detail == {
        "field": "sex",
        "type": "code",
        "message": "Input should be one of 0 (female), 1 (male)",
    }
