"""The record (issue 20, first part): every /predict answer is a durable,
hash-chained row before it leaves; verify finds tampering; the CLI exports
what the service wrote; AUDIT=off keeps nothing; a crash (kill -9) loses no
answer a client received; two workers share the file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.record import answers
from app.record.rows import uuid7
from app.record.sqlite import SqliteStore, sqlite_path
from model.features import EXAMPLE_PATIENT
from tests.conftest import Server
from tests.load import Load

KEY = "record-test-key-0123456789"


def _app(artifact_path: Path, db: Path, **settings: Any) -> Any:
    return create_app(Settings(model_path=artifact_path, audit_dsn=f"sqlite:///{db}", **settings))


def _rows(db: Path) -> list[dict[str, Any]]:
    """The record's answers, one per patient (`app.record.answers`)."""
    store = SqliteStore(db)
    store.open()
    try:
        return list(answers.every(store))
    finally:
        store.close()


def test_each_answer_is_a_row_with_its_request_caller_model_inputs_and_answer(
    artifact_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db, api_key=KEY)) as client:
        one = client.post("/predict", json=EXAMPLE_PATIENT, headers={"X-API-Key": KEY})
        patients = [EXAMPLE_PATIENT, {**EXAMPLE_PATIENT, "thal": None}]
        batch = client.post(
            "/predict/batch", json={"patients": patients}, headers={"X-API-Key": KEY}
        )
        refused = client.post(
            "/predict", json={**EXAMPLE_PATIENT, "thal": 5}, headers={"X-API-Key": KEY}
        )
        predictor = client.app.state.predictor  # type: ignore[attr-defined]
    assert one.status_code == batch.status_code == 200 and refused.status_code == 422
    *rows, refusal = _rows(db)
    assert [r["route"] for r in rows] == ["/predict", "/predict/batch", "/predict/batch"]
    assert (refusal["status"], refusal["error_code"], refusal["route"]) == (
        422,
        "validation_error",
        "/predict",
    )
    assert refusal["request_id"] == refused.headers["x-request-id"] and refusal["inputs"] is None
    first, *batched = rows
    assert first["request_id"] == one.headers["x-request-id"]
    assert first["outputs"] == one.json()
    assert first["inputs"] == {k: float(v) for k, v in EXAMPLE_PATIENT.items()}
    assert (first["model_version"], first["artifact_sha256"]) == (
        predictor.version,
        predictor.artifact.sha256,
    )
    assert first["caller"] == "default" and KEY not in json.dumps(rows)
    assert first["received_at"] <= first["answered_at"] and first["status"] == 200
    assert {r["request_id"] for r in batched} == {batch.headers["x-request-id"]}
    assert [r["outputs"] for r in batched] == batch.json()["predictions"]
    assert batched[1]["inputs"]["thal"] is None
    assert first["id"] < batched[0]["id"] < batched[1]["id"]  # UUIDv7: time-ordered


def test_verify_finds_the_first_altered_or_deleted_row(artifact_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db)) as client:
        for age in (40, 50, 60, 70):
            assert client.post("/predict", json={**EXAMPLE_PATIENT, "age": age}).is_success
    store = SqliteStore(db)
    store.open()
    assert store.verify() == (4, None)
    ids = [r["id"] for r in store.rows()]
    with sqlite3.connect(db) as raw:
        raw.execute(
            "UPDATE predictions SET outputs = replace(outputs, '0.', '0.9') WHERE id = ?", (ids[2],)
        )
    assert store.verify() == (2, ids[2])
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM predictions WHERE id = ?", (ids[2],))
    assert store.verify() == (2, ids[3])  # the row after the deleted one
    store.close()


def test_the_cli_exports_and_verifies_what_the_service_wrote(
    artifact_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db)) as client:
        answer = client.post("/predict", json=EXAMPLE_PATIENT).json()
    env = {**os.environ, "AUDIT_DSN": f"sqlite:///{db}"}

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scripts.audit", *args], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip

    exported = audit("export")
    assert exported.returncode == 0
    (line,) = exported.stdout.splitlines()
    assert json.loads(json.loads(line)["outputs"]) == answer
    as_csv = audit("export", "--format", "csv", "--since", "2000-01-01")
    assert as_csv.stdout.splitlines()[0].startswith("seq,id,request_id")
    assert audit("export", "--until", "2000-01-01").stdout == ""
    assert audit("verify").returncode == 0
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE predictions SET caller = 'someone-else'")
    broken = audit("verify")
    assert broken.returncode == 1 and "breaks at row" in broken.stderr


def test_with_the_record_off_nothing_is_kept(artifact_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db, audit="off")) as client:
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success
    assert not db.exists()


@contextmanager
def _locked(app: Any, db: Path) -> Iterator[None]:
    """Another process's write lock on the record, held longer than the
    service's writer waits for it (0.1 s)."""
    app.state.recorder.store.busy_timeout_ms = 100
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_rows_the_database_cannot_take_are_spooled_then_replayed_once(
    artifact_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock longer than the writer waits:
    the answers still leave, their rows spooled durably; once the lock is
    gone they are replayed, in order, each once (one row per transaction
    here), and the chain holds."""
    monkeypatch.setattr("app.record.recorder.REPLAY_ROWS", 1)
    db = tmp_path / "audit.sqlite3"
    app = _app(artifact_path, db)
    with TestClient(app) as client:
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success
        with _locked(app, db):
            during = [client.post("/predict", json={**EXAMPLE_PATIENT, "age": a}) for a in (60, 61)]
            assert all(r.status_code == 200 for r in during)
            spooled = app.state.recorder.spool.rows()
            assert [json.loads(r.inputs)["age"] for r in spooled] == [60, 61]
        after = client.post("/predict", json={**EXAMPLE_PATIENT, "age": 62})
        assert after.is_success and not app.state.recorder.spool.waiting
    rows = _rows(db)
    assert [r["inputs"]["age"] for r in rows] == [54, 60, 61, 62]
    store = SqliteStore(db)
    store.open()
    assert store.verify() == (4, None)
    store.close()


def test_with_neither_database_nor_spool_the_answer_is_not_given(
    artifact_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "audit.sqlite3"
    spool = tmp_path / "spool-is-a-directory"
    spool.mkdir()
    app = _app(artifact_path, db, audit_spool=spool)
    with TestClient(app) as client:
        assert f"the spool {spool} cannot be written" in caplog.text  # said at start-up
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success
        with _locked(app, db):
            refused = client.post("/predict", json=EXAMPLE_PATIENT)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "record_unavailable"
        assert "probability" not in refused.text
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success  # and it recovers
    assert [r["status"] for r in _rows(db)] == [200, 200]


def test_a_spool_waiting_too_long_makes_ready_503(artifact_path: Path, tmp_path: Path) -> None:
    """A row a previous process spooled 10 minutes ago, and a database still
    locked: /ready says 503 until the row is replayed (within a second of
    the lock going), then 200."""
    from app.record.rows import Row

    db = tmp_path / "audit.sqlite3"
    SqliteStore(db).open()  # the file exists; the service only reads its schema version
    spool = tmp_path / "audit.sqlite3.spool"
    old = Row(uuid7(), "r", 1.0, 1.0, "/predict", "v", "s", None, 200, None, "{}", "{}")
    spool.write_text(json.dumps(list(old)) + "\n")
    os.utime(spool, (time.time() - 600, time.time() - 600))
    app = _app(artifact_path, db)
    app.state.recorder.store.busy_timeout_ms = 100
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with TestClient(app) as client:
            ready = client.get("/ready")
            assert ready.status_code == 503 and "spool" in ready.json()["detail"]
            blocker.execute("ROLLBACK")
            deadline = time.monotonic() + 5
            while app.state.recorder.spool.waiting and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get("/ready").status_code == 200
    finally:
        blocker.close()
    assert [r["id"] for r in _rows(db)] == [old.id]


def test_a_bad_record_location_stops_the_start(artifact_path: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    app = _app(artifact_path, tmp_path / "a-file" / "audit.sqlite3")
    with pytest.raises(Exception, match="cannot open the record"), TestClient(app):
        pass


def test_uuid7_is_time_ordered_version_7() -> None:
    soon = time.time() + 5  # after any id this process made before
    later = [uuid7(t) for t in (soon, soon + 0.5, soon + 1)]
    same_ms = [uuid7(soon + 2) for _ in range(100)]
    ids = later + same_ms
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")


def _under_load(url: str, seconds: float, then: Callable[[], object] = lambda: None) -> list[str]:
    """The request ids of the 200s that 8 clients received in `seconds` of
    /predict, after which `then()` runs (e.g. a crash) and the clients stop."""
    with Load([url]) as load:
        time.sleep(seconds)
        then()
    return load.ok()


@pytest.mark.slow  # real servers, a real crash
def test_after_kill_9_under_load_every_answer_received_is_recorded(
    tmp_path: Path, live_server: Callable[..., AbstractContextManager[Server]]
) -> None:
    db = tmp_path / "audit.sqlite3"
    with live_server(AUDIT_DSN=f"sqlite:///{db}") as server:

        def crash() -> None:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()

        received = _under_load(server.url, 2.0, crash)
    assert len(received) > 100
    recorded = {r["request_id"] for r in _rows(db)}
    assert set(received) <= recorded
    store = SqliteStore(db)
    store.open()
    assert store.verify()[1] is None
    store.close()


@pytest.mark.slow  # a real server with two workers
def test_two_workers_share_the_file_without_loss(
    tmp_path: Path, live_server: Callable[..., AbstractContextManager[Server]]
) -> None:
    db = tmp_path / "audit.sqlite3"
    with live_server(AUDIT_DSN=f"sqlite:///{db}", WORKERS="2") as server:
        received = _under_load(server.url, 2.0)
        server_log = server.log()
    assert "database is locked" not in server_log and "record_unavailable" not in server_log
    rows = _rows(db)
    assert sorted(r["request_id"] for r in rows) == sorted(received)
    store = SqliteStore(db)
    store.open()
    assert store.verify() == (len(received), None)
    store.close()


def test_explanations_and_cds_cards_are_recorded_with_the_issuer(
    artifact_path: Path, tmp_path: Path
) -> None:
    from tests.app.test_cds_hooks import SERVICE
    from tests.ehr import SigningEhr

    ehr = SigningEhr()
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps([ehr.client_entry()]))
    db = tmp_path / "audit.sqlite3"
    call = (Path(__file__).parents[2] / "examples" / "cds-hooks-call.json").read_bytes()
    with TestClient(_app(artifact_path, db, cds_clients_file=clients)) as client:
        explained = client.post("/explain", json=EXAMPLE_PATIENT)
        token = ehr.token(f"http://testserver{SERVICE}")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        carded = client.post(SERVICE, content=call, headers=headers)
    assert explained.status_code == carded.status_code == 200
    explain_row, card_row = _rows(db)
    assert explain_row["route"] == "/explain"
    assert explain_row["outputs"] == explained.json()
    assert card_row["route"] == SERVICE and card_row["caller"] == ehr.iss
    assert card_row["outputs"] == carded.json()
    assert card_row["inputs"]["thal"] == 3.0


def test_with_audit_inputs_hash_the_values_are_a_keyed_digest(
    artifact_path: Path, tmp_path: Path
) -> None:
    import hashlib
    import hmac

    from pydantic import ValidationError

    key = "a-site-secret-key-of-32-characters-or-more"
    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db, audit_inputs="hash", audit_hmac_key=key)) as client:
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success
        assert client.post("/predict", json={**EXAMPLE_PATIENT, "age": 70}).is_success
    first, second = _rows(db)
    values = json.dumps({k: float(v) for k, v in EXAMPLE_PATIENT.items()}).encode()
    expected = hmac.new(key.encode(), values, hashlib.sha256).hexdigest()
    assert first["inputs"] == f"hmac-sha256:{expected}"
    assert second["inputs"].startswith("hmac-sha256:") and second["inputs"] != first["inputs"]
    assert key not in json.dumps([first, second])
    with pytest.raises(ValidationError, match="AUDIT_HMAC_KEY"):
        Settings(model_path=artifact_path, audit_inputs="hash")


def _row(answered_at: float) -> Any:
    from app.record.rows import Row

    return Row(uuid7(answered_at), "r", answered_at, answered_at, "/predict", "v", "sha", None,
               200, None, "{}", "{}")  # fmt: skip


def test_prune_keeps_six_months_unless_forced_is_recorded_and_verify_still_holds(
    tmp_path: Path,
) -> None:
    db = tmp_path / "audit.sqlite3"
    store = SqliteStore(db)
    store.open()
    day = 86400.0
    store.append([_row(time.time() - 200 * day), _row(time.time() - 199 * day)])
    store.append([_row(time.time() - 1 * day)])
    ids = [r["id"] for r in store.rows()]
    env = {**os.environ, "AUDIT_DSN": f"sqlite:///{db}"}

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scripts.audit", *args], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip

    refused = audit("prune", "--older-than", "30")
    assert refused.returncode == 2 and "183-day" in refused.stderr
    assert len(list(store.rows())) == 3
    done = audit("prune", "--older-than", "190")
    assert done.returncode == 0 and done.stdout.startswith("2 answers")
    remaining = list(store.rows())
    assert remaining[0]["id"] == ids[2]
    assert remaining[-1]["route"] == "prune"
    assert json.loads(remaining[-1]["outputs"])["deleted"] == 2
    assert audit("verify").returncode == 0
    with sqlite3.connect(db) as raw:  # deleting the first row kept is still found
        raw.execute("DELETE FROM predictions WHERE id = ?", (ids[2],))
    assert store.verify()[1] == remaining[1]["id"]
    assert audit("prune", "--older-than", "0.5", "--force").returncode == 0
    store.close()


def test_v2_infer_answers_and_refusals_are_recorded(artifact_path: Path, tmp_path: Path) -> None:
    from model.features import FEATURE_NAMES

    db = tmp_path / "audit.sqlite3"
    row = [float(EXAMPLE_PATIENT[f]) for f in FEATURE_NAMES]
    two = {"inputs": [{"name": "patients", "shape": [2, 13], "datatype": "FP64", "data": row * 2}]}
    url = "/v2/models/heart-disease/infer"
    with TestClient(_app(artifact_path, db)) as client:
        answered = client.post(url, json=two)
        refused = client.post(url, json={"inputs": []})
    assert answered.status_code == 200 and refused.status_code == 400
    first, second, refusal = _rows(db)
    probability = answered.json()["outputs"][0]["data"]
    assert first["route"] == url and first["request_id"] == second["request_id"]
    assert first["outputs"]["probability"] == probability[0]
    assert second["inputs"] == dict(zip(FEATURE_NAMES, row, strict=True))
    assert (refusal["status"], refusal["error_code"]) == (400, "invalid_tensors")


def test_async_mode_writes_behind_and_drains_at_shutdown(
    artifact_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "audit.sqlite3"
    app = _app(artifact_path, db, audit_mode="async", audit_queue_rows=5)
    with TestClient(app) as client:
        sent = [client.post("/predict", json={**EXAMPLE_PATIENT, "age": 30 + i}) for i in range(20)]
        assert all(r.status_code == 200 for r in sent)
        assert app.state.recorder._queued <= 5  # the queue's bound held
    ages = [r["inputs"]["age"] for r in _rows(db)]
    assert ages == [30 + i for i in range(20)]  # all written, in order, once


def test_the_async_queue_is_bounded_in_bytes(tmp_path: Path) -> None:
    """20 requests at once: with room for two rows' bytes, no commit carries
    more than two rows (at least 10 flushes); with the default bound one or
    two commits carry them all. Every row is written either way."""
    import asyncio

    from prometheus_client import REGISTRY

    from app.record.recorder import Recorder, row_bytes

    def flushes() -> float:
        return REGISTRY.get_sample_value("heart_record_flush_seconds_count") or 0.0

    async def write_20(db: Path, queue_bytes: int) -> float:
        recorder = Recorder(SqliteStore(db), None, strict=False, queue_bytes=queue_bytes)
        recorder.open()
        await recorder.start()
        before = flushes()
        await asyncio.gather(*(recorder.record([_row(time.time())]) for _ in range(20)))
        await recorder.stop()
        return flushes() - before

    two_rows = 2 * row_bytes([_row(time.time())])
    assert asyncio.run(write_20(tmp_path / "tight.sqlite3", two_rows)) >= 10
    assert asyncio.run(write_20(tmp_path / "loose.sqlite3", 64 << 20)) <= 2
    assert len(_rows(tmp_path / "tight.sqlite3")) == len(_rows(tmp_path / "loose.sqlite3")) == 20


def test_verify_scores_the_recorded_answers_again_with_their_artifact(
    artifact_path: Path, tmp_path: Path
) -> None:
    from app.record.rows import Row

    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db)) as client:
        assert client.post("/predict", json=EXAMPLE_PATIENT).is_success
        assert client.post("/predict", json={**EXAMPLE_PATIENT, "thal": None}).is_success
        assert client.post("/explain", json={**EXAMPLE_PATIENT, "age": 70}).is_success
        assert client.post("/predict", json={**EXAMPLE_PATIENT, "thal": 5}).status_code == 422
        version = client.app.state.predictor.version  # type: ignore[attr-defined]
    env = {**os.environ, "AUDIT_DSN": f"sqlite:///{db}"}

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scripts.audit", "verify", *args], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip

    sound = verify("--artifact", str(artifact_path))
    assert sound.returncode == 0, sound.stderr
    assert f"3 answers of {version} reproduced; 1 rows" in sound.stdout  # the refusal
    store = SqliteStore(db)
    store.open()
    values = json.dumps({k: float(v) for k, v in EXAMPLE_PATIENT.items()})
    wrong = Row(uuid7(), "r", time.time(), time.time(), "/predict", version, "sha", None, 200,
                None, values, json.dumps({"probability": 0.5}))  # fmt: skip
    store.append([wrong])  # a chain intact, an answer the model does not give
    store.close()
    caught = verify("--artifact", str(artifact_path))
    assert caught.returncode == 1 and f"row {wrong.id}" in caught.stderr
    assert verify().returncode == 0  # the chain alone is whole
    assert verify("--artifact", str(tmp_path / "missing.pkl")).returncode == 2


def test_a_batch_of_one_reads_back_as_that_patient_everywhere(
    artifact_path: Path, tmp_path: Path
) -> None:
    """Its row keeps the body `{"patients": [...]}` with one patient in it."""
    from app.record.monitor import report

    db = tmp_path / "audit.sqlite3"
    with TestClient(_app(artifact_path, db)) as client:
        for path in ("/predict/batch", "/explain/batch"):
            assert client.post(path, json={"patients": [EXAMPLE_PATIENT]}).is_success
        training = client.app.state.predictor.artifact.donors  # type: ignore[attr-defined]
    recorded = _rows(db)
    assert [r["patients"] for r in recorded] == [1, 1]
    assert [r["inputs"] for r in recorded] == [EXAMPLE_PATIENT, EXAMPLE_PATIENT]
    assert report(recorded, training, {})["rows"] == 2  # monitoring reads their values
    env = {**os.environ, "AUDIT_DSN": f"sqlite:///{db}"}
    checked = subprocess.run([sys.executable, "-m", "scripts.audit", "verify", "--artifact",
                              str(artifact_path)], env=env, capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert checked.returncode == 0 and checked.stdout.startswith("2 rows, chain whole")
    assert "2 answers of" in checked.stdout  # both scored again


def test_uuid7_random_bits_are_not_shared_with_a_forked_child() -> None:
    later = time.time() + 3600  # a millisecond no id has used: random bits decide
    uuid7()  # the buffer of random bytes is filled
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, uuid7(later).encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 64).decode() != uuid7(later)
    os.close(read)
    os.close(write)


def test_row_hash_is_sha256_of_the_previous_hash_and_the_rows_json_array() -> None:
    """The chain's format is fixed: records written by any version verify."""
    import hashlib

    from app.record.rows import GENESIS, Row, row_hash

    row = Row("0190c3a5-0000-7000-8000-000000000000", "req", 1.5, 2.25, "/predict", "v", "s",
              None, 200, None, '{"age":54.0}', '{"probability":0.41}')  # fmt: skip
    text = (
        GENESIS + '\n["0190c3a5-0000-7000-8000-000000000000","req",1.5,2.25,"/predict","v",'
        '"s",null,200,null,"{\\"age\\":54.0}","{\\"probability\\":0.41}"]'
    )
    assert row_hash(GENESIS, row) == hashlib.sha256(text.encode()).hexdigest()


def test_a_patients_json_is_json_dumps_of_its_values_to_the_byte() -> None:
    """The record's `inputs`, built without a dict, read back as json.dumps wrote them."""
    import json

    import numpy as np

    from app.api.recording import patient_json
    from model.features import FEATURE_NAMES

    rng = np.random.default_rng(7)
    for _ in range(200):
        row: list[Any] = [
            rng.choice([None, int(rng.integers(0, 300)), float(rng.normal(100, 50)), 0.1 + 0.2])
            for _ in FEATURE_NAMES
        ]
        row[0] = np.float64(row[0]) if isinstance(row[0], float) else row[0]  # V2's, before tolist
        assert patient_json(row) == json.dumps(dict(zip(FEATURE_NAMES, row, strict=True)))


class _CountingStore(SqliteStore):
    """A real SQLite store that notes how many rows each commit carried."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits: list[int] = []

    def append(self, rows: list[Any], skip_known: bool = False) -> None:
        super().append(rows, skip_known)
        self.commits.append(len(rows))


def _one_row(request_id: str) -> Any:
    from app.record.rows import Row

    now = time.time()
    return Row(uuid7(now), request_id, now, now, "/predict", "v", "sha", None, 200, None,
               "{}", "{}")  # fmt: skip


def test_strict_mode_gathers_the_rows_of_requests_in_flight_and_commits_a_lone_one_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from app.record import recorder as recorder_module
    from app.record.recorder import Recorder

    monkeypatch.setattr(recorder_module, "STRICT_LINGER", 5.0)  # far longer than the test

    async def run(in_flight: int, arrivals: int) -> tuple[list[int], float]:
        store = _CountingStore(tmp_path / f"gather-{in_flight}-{arrivals}.sqlite3")
        recorder = Recorder(store, strict=True, in_flight=lambda: in_flight)
        recorder.open()
        await recorder.start()
        start = time.monotonic()
        waiting = [asyncio.create_task(recorder.record([_one_row("first")]))]
        for i in range(arrivals - 1):  # later requests, while the first waits for its commit
            await asyncio.sleep(0.05)
            waiting.append(asyncio.create_task(recorder.record([_one_row(f"later-{i}")])))
        await asyncio.gather(*waiting)
        took = time.monotonic() - start
        await recorder.stop()
        return store.commits, took

    lone, took = asyncio.run(run(in_flight=1, arrivals=1))
    assert lone == [1] and took < 2.5  # committed at once, not after STRICT_LINGER
    gathered, took = asyncio.run(run(in_flight=3, arrivals=3))
    assert gathered == [3]  # the first waited for the two others: one commit,
    assert took < 2.5  # as soon as the last of the three had its row waiting
    monkeypatch.setattr(recorder_module, "STRICT_LINGER", 0.2)
    bounded, took = asyncio.run(run(in_flight=3, arrivals=1))
    assert bounded == [1] and took >= 0.2  # the others never came: at most STRICT_LINGER
