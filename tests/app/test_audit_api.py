"""Reading the record over HTTP: /audit/predictions needs a key with the
`audit` scope (API_KEYS_FILE's third column); a scoring key gets 403, no
key 401; filters and pages return exactly the rows asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.keys import KeyFileError, read_keys_file
from app.main import create_app
from model.features import EXAMPLE_PATIENT

SCORER, AUDITOR = "scorer-key-0123456789abcdef", "auditor-key-0123456789abcdef"


@pytest.fixture()
def client(artifact_path: Path, tmp_path: Path) -> Any:
    keys = tmp_path / "keys"
    keys.write_text(f"clinic {SCORER}\nauditor {AUDITOR} audit\n")
    settings = Settings(model_path=artifact_path, api_keys_file=keys,
                        audit_dsn=f"sqlite:///{tmp_path / 'audit.sqlite3'}")  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_only_a_key_with_the_audit_scope_reads_the_record(client: TestClient) -> None:
    assert client.post("/predict", json=EXAMPLE_PATIENT, headers=_as(SCORER)).is_success
    assert client.get("/audit/predictions").status_code == 401
    scorer = client.get("/audit/predictions", headers=_as(SCORER))
    assert scorer.status_code == 403 and scorer.json()["error"]["code"] == "forbidden"
    assert client.post("/predict", json=EXAMPLE_PATIENT, headers=_as(AUDITOR)).status_code == 403
    page = client.get("/audit/predictions", headers=_as(AUDITOR)).json()
    row, refusal = page["items"]  # the answer, and the auditor's refused /predict
    assert (refusal["status"], refusal["error_code"], refusal["caller"]) == (
        403,
        "forbidden",
        "auditor",
    )
    assert refusal["inputs"] is None and refusal["outputs"] is None
    assert page["next"] is None and row["caller"] == "clinic" and row["route"] == "/predict"
    assert row["inputs"]["age"] == 54 and row["outputs"]["model_version"] == row["model_version"]
    one = client.get(f"/audit/predictions/{row['id']}", headers=_as(AUDITOR))
    assert one.json() == row
    assert client.get("/audit/predictions/nope", headers=_as(AUDITOR)).status_code == 404


def test_filters_and_pages(client: TestClient) -> None:
    ids = []
    for age in (40, 50, 60, 70, 80):
        r = client.post("/predict", json={**EXAMPLE_PATIENT, "age": age}, headers=_as(SCORER))
        ids.append(r.headers["x-request-id"])
    batch = client.post(
        "/predict/batch", json={"patients": [EXAMPLE_PATIENT] * 3}, headers=_as(SCORER)
    )
    seen, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = client.get("/audit/predictions", params=params, headers=_as(AUDITOR)).json()
        seen += page["items"]
        after = page["next"]
        if after is None:
            break
    assert [r["request_id"] for r in seen] == ids + [batch.headers["x-request-id"]] * 3
    batched = seen[5:]  # one row in the record, three answers here, each with its own id
    assert len({r["id"] for r in batched}) == 3 and len({r["row_hash"] for r in batched}) == 1
    middle = client.get(f"/audit/predictions/{batched[1]['id']}", headers=_as(AUDITOR))
    assert middle.json() == batched[1]
    by_request = client.get(
        "/audit/predictions", params={"request_id": ids[2]}, headers=_as(AUDITOR)
    )
    assert [r["inputs"]["age"] for r in by_request.json()["items"]] == [60]
    future = client.get(
        "/audit/predictions", params={"since": "2999-01-01T00:00:00Z"}, headers=_as(AUDITOR)
    )
    assert future.json()["items"] == []
    past = client.get(
        "/audit/predictions", params={"until": "2000-01-01T00:00:00"}, headers=_as(AUDITOR)
    )
    assert past.json()["items"] == []
    by_caller = client.get("/audit/predictions", params={"caller": "nobody"}, headers=_as(AUDITOR))
    assert by_caller.json()["items"] == []
    assert (
        client.get("/audit/predictions", params={"limit": 0}, headers=_as(AUDITOR)).status_code
        == 422
    )


def test_a_scope_must_be_known(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"x {AUDITOR} audit,admin\n")
    with pytest.raises(KeyFileError, match="unknown scope admin"):
        read_keys_file(keys)
    keys.write_text(f"x {AUDITOR} audit,score\n")
    assert read_keys_file(keys)["x"][1] == {"audit", "score"}


def test_outcomes_link_to_one_recorded_answer(client: TestClient, tmp_path: Path) -> None:
    import sqlite3

    single = client.post("/predict", json=EXAMPLE_PATIENT, headers=_as(SCORER))
    patients = {"patients": [EXAMPLE_PATIENT] * 2}
    batch = client.post("/predict/batch", json=patients, headers=_as(SCORER))
    rows = client.get("/audit/predictions", headers=_as(AUDITOR)).json()["items"]

    def found(key: str = AUDITOR, outcome: Any = 1, when: str = "2026-12-20T10:00:00Z",
              **reference: str) -> Any:  # fmt: skip
        body = {**reference, "outcome": outcome, "observed_at": when}
        return client.post("/outcomes", headers=_as(key), json=body)

    by_request = found(request_id=single.headers["x-request-id"])
    assert by_request.status_code == 201 and by_request.json()["prediction_id"] == rows[0]["id"]
    assert found(outcome=0, prediction_id=rows[2]["id"]).status_code == 201
    ambiguous = found(request_id=batch.headers["x-request-id"])
    assert ambiguous.status_code == 409 and ambiguous.json()["error"]["code"] == "ambiguous"
    assert found(prediction_id="nope").status_code == 404
    assert found().status_code == 422  # neither reference
    assert found(prediction_id="x", request_id="y").status_code == 422
    assert found(outcome=2, prediction_id=rows[0]["id"]).status_code == 422
    assert found(when="2026-12-20T10:00:00", prediction_id=rows[0]["id"]).status_code == 422
    assert found(SCORER, prediction_id=rows[0]["id"]).status_code == 403
    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        kept = db.execute(
            "SELECT prediction_id, outcome, caller FROM outcomes ORDER BY id"
        ).fetchall()
    assert kept == [(rows[0]["id"], 1, "auditor"), (rows[2]["id"], 0, "auditor")]


def test_cds_feedback_is_kept_beside_the_record(artifact_path: Path, tmp_path: Path) -> None:
    import sqlite3

    from tests.app.test_cds_hooks import SERVICE, SPEC_FEEDBACK

    settings = Settings(
        model_path=artifact_path, audit_dsn=f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    )
    with TestClient(create_app(settings)) as client:  # no keys: unsigned CDS calls accepted
        for example in SPEC_FEEDBACK:
            assert client.post(f"{SERVICE}/feedback", json=example).status_code == 200
    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        kept = db.execute("SELECT card, outcome, detail FROM feedback ORDER BY id").fetchall()
    assert [(card, outcome) for card, outcome, _ in kept] == [
        (e["feedback"][0]["card"], e["feedback"][0]["outcome"]) for e in SPEC_FEEDBACK
    ]
    assert "A comment entered by the clinician." in kept[2][2]
