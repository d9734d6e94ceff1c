"""Bodies built to be expensive get a short 4xx: at most MAX_REPORTED
problems listed, the rest counted; no validation of thousands of problems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.guards.body_limits import MAX_REPORTED
from model.features import EXAMPLE_PATIENT

PATIENT = dict(EXAMPLE_PATIENT)


def _post(client: TestClient, path: str, body: Any) -> Any:
    content = json.dumps(body, separators=(",", ":")).encode()
    r = client.post(path, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    return r


def test_sixty_thousand_unknown_keys_are_listed_twenty_and_counted(
    shared_client: TestClient,
) -> None:
    r = _post(shared_client, "/predict", {f"k{i}": 1 for i in range(60_000)})
    details = r.json()["error"]["details"]
    assert len(details) == MAX_REPORTED + 1
    assert [d["field"] for d in details[:MAX_REPORTED]] == [f"k{i}" for i in range(MAX_REPORTED)]
    assert all(d["type"] == "extra_forbidden" for d in details[:MAX_REPORTED])
    assert details[-1]["type"] == "too_many_errors" and details[-1]["field"] is None
    # counted from the body's colons, without parsing it all: "about"
    assert details[-1]["message"].startswith(f"about {60_000 - MAX_REPORTED} more problems")
    assert len(r.content) < 10_000  # was 5 MB


def test_unknown_keys_in_a_batch_patient_are_capped_too(shared_client: TestClient) -> None:
    body = {"patients": [PATIENT, {**PATIENT, **{f"x{i}": 0 for i in range(500)}}]}
    details = _post(shared_client, "/predict/batch", body).json()["error"]["details"]
    assert len(details) == MAX_REPORTED + 1
    assert details[0]["field"] == "patients.1.x0"
    assert details[-1]["message"].startswith(f"about {500 - MAX_REPORTED} more problems")


def test_a_batch_of_wrong_patients_reports_the_first_one(shared_client: TestClient) -> None:
    details = _post(shared_client, "/predict/batch", {"patients": [{}] * 1000}).json()
    fields = [d["field"] for d in details["error"]["details"]]
    assert len(fields) <= MAX_REPORTED + 1
    assert all(f is None or f.startswith("patients.0.") for f in fields)


def test_more_objects_than_max_batch_is_refused_before_parsing(shared_client: TestClient) -> None:
    details = _post(shared_client, "/predict/batch", {"patients": [{}] * 50_000}).json()
    [detail] = details["error"]["details"]
    assert detail["field"] == "patients" and detail["type"] == "too_long"
    assert "at most 1000 patients (MAX_BATCH)" in detail["message"]


@pytest.mark.parametrize("n_unknown", [1, 3, MAX_REPORTED - 1])  # + thal: at most 20
def test_a_few_problems_are_all_listed_as_before(shared_client: TestClient, n_unknown: int) -> None:
    body = {**PATIENT, **{f"extra{i}": 1 for i in range(n_unknown)}, "thal": 5}
    details = _post(shared_client, "/predict", body).json()["error"]["details"]
    fields = {d["field"] for d in details}
    assert fields == {"thal", *(f"extra{i}" for i in range(n_unknown))}
    assert not any(d["type"] == "too_many_errors" for d in details)


def test_many_problems_of_pydantic_are_capped_as_well(shared_client: TestClient) -> None:
    """Not unknown keys: 13 missing fields and 15 wrong types in one patient."""
    body = {"patients": [{f"extra{i}": 1 for i in range(15)}]}
    details = _post(shared_client, "/predict/batch", body).json()["error"]["details"]
    assert len(details) == MAX_REPORTED + 1
    assert details[-1]["message"].startswith("8 more problems")  # 13 + 15 - 20


@pytest.mark.parametrize("value", ["x" * 500_000, 1.5])
def test_a_value_far_longer_than_any_valid_one_is_refused_unread(
    shared_client: TestClient, value: Any
) -> None:
    body = {**PATIENT, "age": value}
    if value == 1.5:  # whitespace padding: valid JSON, but no valid body is that sparse
        content = json.dumps(body).encode().replace(b",", b"," + b" " * 20_000)
        r = shared_client.post(
            "/predict", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422
        details = r.json()["error"]["details"]
    else:
        details = _post(shared_client, "/predict", body).json()["error"]["details"]
    assert [d["type"] for d in details] == ["value_too_long"]
    assert "a value is too long" in details[0]["message"]
