"""Every kind of /predict, /explain and batch answer parses as the type the
OpenAPI document declares for its status, and holds nothing that type does
not document: each route declares the type it answers with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from app import errors
from app.api import answer_models, schemas
from app.config import Settings
from app.main import create_app
from model.features import EXAMPLE_PATIENT
from tests.conftest import HIGH_RISK_PATIENT

KEY = "k3y-of-sixteen-chars"
ODD = {**EXAMPLE_PATIENT, "age": 25, "serum_cholesterol": 550, "max_heart_rate": 210}
JSON = {"content-type": "application/json"}
AUTH = {"X-API-Key": KEY, **JSON}


@pytest.fixture
def keyed(artifact_path: Path) -> Iterator[TestClient]:
    settings = Settings(model_path=artifact_path, api_key=KEY, max_body_bytes=4096, max_batch=3)
    with TestClient(create_app(settings)) as client:
        yield client


def _declared_model(spec: dict[str, Any], path: str, status: int) -> TypeAdapter[Any]:
    response = spec["paths"][path]["post"]["responses"][str(status)]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]  # an answer's type, or the one error shape's model
    model = getattr(answer_models, name, None) or getattr(errors, name)
    assert isinstance(model, type)
    return TypeAdapter(model)


def _single(patient: dict[str, Any]) -> bytes:
    return schemas.Patient.model_validate(patient).model_dump_json().encode()


CASES: list[tuple[str, str, bytes, dict[str, str], int]] = [
    ("absence", "/predict", _single(EXAMPLE_PATIENT), AUTH, 200),
    ("presence", "/predict", _single(HIGH_RISK_PATIENT), AUTH, 200),
    (
        "batch",
        "/predict/batch",
        b'{"patients": [%s, %s]}' % (_single(EXAMPLE_PATIENT), _single(HIGH_RISK_PATIENT)),
        AUTH,
        200,
    ),
    ("warnings", "/predict", _single(ODD), AUTH, 200),
    ("explain", "/explain", _single(ODD), AUTH, 200),
    (
        "explain-batch",
        "/explain/batch",
        b'{"patients": [%s]}' % _single(EXAMPLE_PATIENT),
        AUTH,
        200,
    ),
    ("explain-invalid", "/explain", b'{"age": 3}', AUTH, 422),
    ("explain-no-key", "/explain/batch", b"{}", JSON, 401),
    ("bad-json", "/predict", b"{", AUTH, 400),
    ("bad-length", "/predict", b"{}", {**AUTH, "content-length": "x"}, 400),
    ("no-key", "/predict", _single(EXAMPLE_PATIENT), JSON, 401),
    ("too-large", "/predict", b" " * 5000, AUTH, 413),
    ("not-json", "/predict", b"{}", {"X-API-Key": KEY, "content-type": "text/plain"}, 415),
    ("invalid", "/predict", b'{"thal": 1}', AUTH, 422),
    (
        "over-max-batch",
        "/predict/batch",
        b'{"patients": [%s]}' % b",".join([_single(EXAMPLE_PATIENT)] * 4),
        AUTH,
        422,
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "body", "headers", "status"), CASES, ids=[c[0] for c in CASES]
)
def test_answers_parse_as_their_documented_model(
    keyed: TestClient, name: str, path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    r = keyed.post(path, content=body, headers=headers)
    assert r.status_code == status, r.text
    model = _declared_model(keyed.app.openapi(), path, status)  # type: ignore[attr-defined]
    parsed = model.validate_json(r.content)
    # nothing undocumented: the type gives back exactly what was sent
    assert model.dump_python(parsed, mode="json", by_alias=True, exclude_unset=True) == r.json()


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_not_ready_answer_parses_as_documented(artifact_path: Path, path: str) -> None:
    app = create_app(Settings(model_path=artifact_path))
    client = TestClient(app)  # no `with`: the lifespan never loads the model
    body = _single(EXAMPLE_PATIENT)
    if path == "/predict/batch":
        body = b'{"patients": [%s]}' % body
    r = client.post(path, content=body, headers=JSON)
    assert r.status_code == 503
    model = _declared_model(app.openapi(), path, 503)
    assert model.dump_python(model.validate_json(r.content), mode="json", by_alias=True) == r.json()
    assert r.json()["error"]["code"] == "not_ready"


def test_every_new_answer_field_is_documented_with_an_example(client: TestClient) -> None:
    components = client.app.openapi()["components"]["schemas"]  # type: ignore[attr-defined]
    names = ("Prediction", "Interval", "AnswerWarning", "Explanation", "Contribution")
    for name in (*names, "MissingField", "IfMeasured"):
        for field, prop in components[name]["properties"].items():
            nested = "$ref" in str(prop)  # a documented model of its own (Interval...)
            assert "examples" in prop or nested, (name, field)
    for name in ("Prediction", "Explanation"):  # a whole answer, as the docs page shows it
        for example in components[name]["examples"]:
            assert {"interval", "warnings"} <= set(example)
    examples = components["Prediction"]["examples"]
    assert [("missing" in e) for e in examples] == [False, True]  # complete, and with nulls
    for example in examples:
        TypeAdapter(answer_models.Prediction).validate_python(example)
