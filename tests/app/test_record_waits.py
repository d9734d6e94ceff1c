"""What a request holds while strict mode waits for its row to be durable:
the row and its answers, not its validated patients, which are freed
first (docs/performance.md says what that buys)."""

from __future__ import annotations

import gc
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from app.api.schemas import Patient
from app.config import Settings
from app.main import create_app
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES

PATIENTS = [{**EXAMPLE_PATIENT, "age": 40 + i % 30} for i in range(100)]
V2_BODY = {
    "inputs": [
        {"name": "patients", "shape": [100, 13], "datatype": "FP64",
         "data": [float(p[name]) for p in PATIENTS for name in FEATURE_NAMES]}
    ]
}  # fmt: skip


def _live_patients() -> int:
    gc.collect()
    return sum(isinstance(o, Patient) for o in gc.get_objects())


def _held_while_waiting(client: TestClient, db: Path, path: str, body: dict[str, Any]) -> int:
    """How many validated patients are alive while the request's row waits
    for the record's write lock, held here by another connection."""
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(client.post, path, json=body)
            deadline = time.monotonic() + 10
            while not REGISTRY.get_sample_value("heart_record_queue_rows"):
                assert time.monotonic() < deadline, "the row never reached the writer"
                time.sleep(0.005)
            alive = _live_patients()
            blocker.execute("ROLLBACK")
            assert answer.result().status_code == 200
    finally:
        blocker.close()
    return alive


def test_a_request_waiting_for_its_commit_holds_no_patient(
    artifact_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "audit.sqlite3"
    app = create_app(Settings(model_path=artifact_path, audit_dsn=f"sqlite:///{db}"))
    with TestClient(app) as client:
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success  # the record exists
        assert _live_patients() == 0
        for path, body in (
            ("/predict/batch", {"patients": PATIENTS}),
            ("/explain/batch", {"patients": PATIENTS[:20]}),
            ("/predict", EXAMPLE_PATIENT),
            ("/v2/models/heart-disease/infer", V2_BODY),
        ):
            assert _held_while_waiting(client, db, path, body) == 0, path
        assert REGISTRY.get_sample_value("heart_record_rows_total", {"result": "written"})
