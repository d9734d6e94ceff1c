"""The record's two databases (issue 20): the same contract on a SQLite file
and on a real PostgreSQL server (tests/postgres.py), the service writing to
PostgreSQL, and each process's own spool."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.record import answers
from app.record import store as store_module
from app.record.answers import Cursor
from app.record.backends import store_for
from app.record.postgres import PostgresStore
from app.record.rows import GENESIS, Row, patient_ids, uuid7
from app.record.schema import SCHEMA_VERSION
from app.record.spool import Spool
from app.record.sqlite import SqliteStore
from app.record.store import Store, StoreError
from model.features import EXAMPLE_PATIENT
from tests.conftest import Server, start_server, wait_ready
from tests.load import Load
from tests.record_v1 import rows_1, write_postgres_1, write_sqlite_1

AUDITOR = "auditor-key-0123456789abcdef"


def _row(at: float, request_id: str = "r", caller: str | None = "clinic") -> Row:
    return Row(uuid7(at), request_id, at, at, "/predict", "v1", "sha", caller, 200, None,
               json.dumps({"age": at}), json.dumps({"probability": 0.5}))  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "audit.sqlite3")
    else:
        opened = PostgresStore(request.getfixturevalue("postgres_dsn"))
    opened.open()
    yield opened
    opened.close()


def _raw(store: Store, sql: str, *values: Any) -> None:
    """Change the record behind the service's back (tampering)."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            db.execute(sql, values)
        return
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.dsn, autocommit=True) as pg:
        pg.execute(sql.replace("?", "%s"), values)


def test_the_chain_and_its_tampering_are_found_alike(store: Store) -> None:
    now = time.time()
    store.append([_row(now - 3, "a"), _row(now - 2, "a")])
    store.append([_row(now - 1, "b", caller="ehr")])
    assert store.verify() == (3, None)
    ids = [r["id"] for r in store.rows()]
    assert len(ids) == 3 and ids == sorted(ids)
    _raw(store, "UPDATE predictions SET outputs = '{}' WHERE id = ?", ids[1])
    assert store.verify() == (1, ids[1])
    _raw(store, "DELETE FROM predictions WHERE id = ?", ids[1])
    assert store.verify() == (1, ids[2])  # the row after the deleted one


def test_queries_outcomes_feedback_and_pages_agree(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    store.append([_row(now - 30 + i, f"req-{i % 3}", ["a", "b"][i % 2]) for i in range(20)])
    by_request, _ = answers.page(store, {"request_id": "req-1"})
    assert [r["request_id"] for r in by_request] == ["req-1"] * 7
    by_b, _ = answers.page(store, {"caller": "b", "since": now - 25, "until": now - 15})
    assert [r["caller"] for r in by_b] == ["b"] * 5
    first, after = answers.page(store, {}, limit=4)
    rest, end = answers.page(store, {}, after, limit=100)
    assert len(first) + len(rest) == 20 and end is None and after == Cursor(first[-1]["seq"])
    monkeypatch.setattr(store_module, "PAGE_ROWS", 7)  # rows() reads 7 at a time
    assert [r["id"] for r in answers.every(store)] == [r["id"] for r in first + rest]
    assert len(list(answers.every(store, since=now - 20))) == 10
    latest = rest[-1]["id"]
    store.add_outcome(latest, 1, now, "lab")
    recent, outcomes = answers.recent(store, 5)
    assert [r["id"] for r in recent] == [r["id"] for r in rest[-5:]] and outcomes == {latest: 1}
    store.add_feedback([("card-uuid", "accepted", "{}", now)], "ehr")


def _batch(at: float, n: int) -> Row:
    """One request answering `n` patients, stored as /predict/batch stores it."""
    inputs = json.dumps({"patients": [{"age": 40 + i} for i in range(n)]})
    outputs = json.dumps([{"probability": i / n} for i in range(n)])
    return Row(uuid7(at, n), "batch", at, at, "/predict/batch", "v1", "sha", "clinic", 200,
               None, inputs, outputs, n)  # fmt: skip


def test_a_batch_is_one_row_read_as_one_answer_per_patient(store: Store) -> None:
    now = time.time()
    store.append([_row(now - 3), _batch(now - 2, 5), _row(now - 1)])
    assert store.verify() == (3, None) and len(list(store.rows())) == 3
    every = list(answers.every(store))
    ids = [a["id"] for a in every]
    assert len(set(ids)) == 7 and ids == sorted(ids)  # one id each, time-ordered
    assert [a["inputs"]["age"] for a in every[1:6]] == [40, 41, 42, 43, 44]
    assert [a["outputs"]["probability"] for a in every[1:6]] == [0, 0.2, 0.4, 0.6, 0.8]
    pages, cursor = [], answers.START  # pages of two end inside the batch, and go on from there
    while True:
        items, more = answers.page(store, {}, cursor, limit=2)
        pages.append([a["id"] for a in items])
        if more is None:
            break
        cursor = Cursor.parse(str(more))
    assert pages == [ids[0:2], ids[2:4], ids[4:6], ids[6:]]
    assert [answers.find(store, i)["id"] for i in ids] == ids  # type: ignore[index]
    assert answers.find(store, patient_ids(ids[6], 2)[1]) is None  # no answer has that id
    assert answers.find(store, "00000000-0000-7000-8000-000000000000") is None
    with_request, _ = answers.page(store, {"request_id": "batch"}, answers.START, 2)
    assert len(with_request) == 2  # /outcomes by request_id: ambiguous
    store.add_outcome(ids[3], 1, now, "lab")
    recent, outcomes = answers.recent(store, 4)
    assert [a["id"] for a in recent] == ids[3:] and outcomes == {ids[3]: 1}
    assert store.prune(now) == 7  # answers, not rows


def test_a_batch_rows_hash_is_the_documented_form_and_tampering_is_found(store: Store) -> None:
    batch = _batch(time.time(), 3)
    store.append([batch])
    (stored,) = store.rows()
    head = json.dumps([*batch[:10], None, None, 3], separators=(",", ":"))  # an oracle of its own
    body = b"".join(
        b"\n%d:%s" % (len(t.encode()), t.encode()) for t in (batch.inputs, batch.outputs)
    )
    expected = hashlib.sha256(f"{GENESIS}\n{head}".encode() + body).hexdigest()
    assert stored["row_hash"] == expected and store.verify() == (1, None)
    one_answer_changed = batch.outputs.replace("0.0", "0.9", 1)
    _raw(store, "UPDATE predictions SET outputs = ? WHERE id = ?", one_answer_changed, batch.id)
    assert store.verify() == (0, batch.id)


def test_a_record_of_schema_1_is_migrated_and_verifies_unchanged(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    old = rows_1([{"age": 50 + i, "sex": 1} for i in range(3)], time.time() - 60)
    for kind in ("sqlite", "postgres"):
        if kind == "sqlite":
            write_sqlite_1(tmp_path / "v1.sqlite3", old)
            migrated: Store = SqliteStore(tmp_path / "v1.sqlite3")
        else:
            dsn = request.getfixturevalue("postgres_dsn")
            write_postgres_1(dsn, old)
            migrated = PostgresStore(dsn)
        migrated.open()  # migrated at start-up, not refused
        try:
            assert migrated.verify() == (3, None)  # the old hashes hold as they were
            migrated.append([_batch(time.time(), 2)])
            assert migrated.verify() == (4, None)  # and the chain goes on from them
            every = list(answers.every(migrated))
            assert [a["id"] for a in every[:3]] == [r[0] for r in old]
            assert [a["inputs"]["age"] for a in every] == [50, 51, 52, 40, 41]
            assert every[0]["outputs"] == json.loads(old[0][11])
        finally:
            migrated.close()
        migrated.open()  # a second start finds version 2: nothing to do
        migrated.close()
    with sqlite3.connect(tmp_path / "v1.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_replay_skips_rows_already_there_and_prune_keeps_the_chain(store: Store) -> None:
    day = 86400.0
    old, kept = _row(time.time() - 200 * day), _row(time.time() - day)
    store.append([old])
    store.append([old, kept], skip_known=True)  # a replay after a lost acknowledgement
    assert [r["id"] for r in store.rows()] == [old.id, kept.id]
    assert store.prune(time.time() - 190 * day) == 1
    remaining = list(store.rows())
    assert [r["id"] for r in remaining[:1]] == [kept.id] and remaining[-1]["route"] == "prune"
    assert store.verify() == (2, None)
    assert store.prune(time.time() - 195 * day) == 0  # nothing older: the anchor stays
    assert store.verify() == (3, None)


def test_a_postgres_record_of_another_schema_version_is_refused(postgres_dsn: str) -> None:
    first = PostgresStore(postgres_dsn)
    first.open()
    first.close()
    with psycopg.connect(postgres_dsn, autocommit=True) as pg:
        pg.execute("UPDATE record_schema SET version = 99")
    with pytest.raises(StoreError, match="record schema 99"):
        PostgresStore(postgres_dsn).open()


def test_a_sqlite_record_of_a_later_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "later.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"record schema {SCHEMA_VERSION + 1}, newer"):
        SqliteStore(path).open()


def test_an_unreachable_server_is_named_without_its_password() -> None:
    unreachable = store_for("postgresql://clinic:s3cret-pw@127.0.0.1:1/record")
    with pytest.raises(StoreError) as failed:
        unreachable.open()
    assert "postgresql://127.0.0.1:1/record" in str(failed.value)
    assert "s3cret-pw" not in str(failed.value)
    with pytest.raises(StoreError, match="not supported"):
        store_for("mysql://x")


def test_the_service_and_the_cli_use_postgres(
    artifact_path: Path, tmp_path: Path, postgres_dsn: str
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"auditor {AUDITOR} score,audit\n")
    settings = Settings(model_path=artifact_path, audit_dsn=postgres_dsn, api_keys_file=keys,
                        audit_spool=tmp_path / "spool")  # fmt: skip
    with TestClient(create_app(settings)) as client:
        headers = {"X-API-Key": AUDITOR}
        answer = client.post("/predict", json=EXAMPLE_PATIENT, headers=headers)
        page = client.get("/audit/predictions", headers=headers).json()
    assert answer.status_code == 200
    (item,) = page["items"]
    assert item["outputs"] == answer.json() and item["caller"] == "auditor"
    env = {**os.environ, "AUDIT_DSN": postgres_dsn}
    run = [sys.executable, "-m", "scripts.audit"]
    exported = subprocess.run([*run, "export"], env=env, capture_output=True, text=True)
    assert json.loads(json.loads(exported.stdout)["outputs"]) == answer.json()
    verified = subprocess.run([*run, "verify"], env=env, capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stdout.startswith("1 rows, chain whole")


def test_each_process_has_its_own_spool_and_adopts_orphaned_ones(tmp_path: Path) -> None:
    """flock is per open file: a second claim in this process stands for
    another worker. A spool no process holds (a crashed worker's) is taken
    over by the next claim, its rows first."""
    base = tmp_path / "audit.spool"
    first, second = Spool.claim(base), Spool.claim(base)
    assert (first.path, second.path) == (base, tmp_path / "audit.spool.1")
    second.append([_row(1.0, "orphaned")])
    second.close()  # its worker is gone
    first.append([_row(2.0, "mine")])
    third = Spool.claim(base)  # a new worker: slot 1 is free again
    assert third.path == second.path
    assert [r.request_id for r in third.rows()] == ["orphaned"]
    first.close()
    fourth = Spool.claim(tmp_path / "audit.spool")  # slot 0 free: adopted nothing held
    assert fourth.path == base and [r.request_id for r in fourth.rows()] == ["mine"]
    assert third.waiting and [r.request_id for r in third.rows()] == ["orphaned"]
    fifth_base = tmp_path / "other.spool"
    Spool(fifth_base.with_name("other.spool.3")).append([_row(3.0, "left")])
    adopted = Spool.claim(fifth_base)
    assert adopted.path == fifth_base and [r.request_id for r in adopted.rows()] == ["left"]
    assert not fifth_base.with_name("other.spool.3").read_text()
    for spool in (third, fourth, adopted):
        spool.close()


def _recorded(dsn: str, expected: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The record's rows, once it holds `expected` of them (spooled rows are
    replayed within a second or so of the database coming back) or after
    `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        reader = PostgresStore(dsn)
        reader.open()
        rows = list(reader.rows())
        whole = reader.verify()
        reader.close()
        if len(rows) >= expected or time.monotonic() > deadline:
            assert whole == (len(rows), None)  # and the chain holds
            return rows


def _metric(text: str, name: str) -> float:
    """The sum of a metric's samples over every label set and worker."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))  # fmt: skip


@pytest.mark.slow  # two real workers, a real PostgreSQL stopped and started
def test_postgres_stopped_under_load_answers_continue_and_every_row_arrives_once(
    tmp_path: Path,
    postgres_server: Any,
    live_server: Callable[..., AbstractContextManager[Server]],
) -> None:
    dsn = postgres_server.database()
    env = {"AUDIT_DSN": dsn, "AUDIT_SPOOL": str(tmp_path / "spool"), "WORKERS": "2"}
    with live_server(**env) as server, Load([server.url]) as load:
        time.sleep(1.0)
        postgres_server.stop("fast")  # clients disconnected, server down
        time.sleep(2.0)
        during = httpx.get(f"{server.url}/metrics").text
        answered_before_restart = len(load.answers)
        postgres_server.start()
        time.sleep(2.0)
        load.stop()
        rows = _recorded(dsn, len(load.ok()))
        server_log = server.log()
    assert {a.status for a in load.answers} == {200}  # answers continued
    assert answered_before_restart > 50
    assert _metric(during, 'heart_record_rows_total{result="spooled"}') > 0
    assert _metric(during, "heart_record_oldest_pending_seconds") > 0
    assert sorted(r["request_id"] for r in rows) == sorted(load.ok())  # each once
    assert "rows spooled" in server_log and "replayed into the database" in server_log


@pytest.mark.slow  # two real server processes on one PostgreSQL
def test_two_replicas_write_one_record_without_loss(
    artifact_path: Path, tmp_path: Path, postgres_server: Any
) -> None:
    dsn = postgres_server.database()
    replicas = [
        start_server({"MODEL_PATH": str(artifact_path), "AUDIT_DSN": dsn,
                      "AUDIT_SPOOL": str(tmp_path / f"spool-{i}")}, tmp_path / f"replica-{i}.log")
        for i in range(2)
    ]  # fmt: skip
    try:
        for replica in replicas:
            wait_ready(replica)
        with Load([r.url for r in replicas]) as load:
            time.sleep(2.0)
    finally:
        for replica in replicas:
            replica.process.terminate()
            replica.process.wait(timeout=20)
    assert {a.status for a in load.answers} == {200}
    assert all(sum(a.url == r.url for a in load.answers) > 50 for r in replicas)
    rows = _recorded(dsn, len(load.ok()))
    assert sorted(r["request_id"] for r in rows) == sorted(load.ok())
    assert not any("spooled" in r.log() for r in replicas)  # the lock, not the spool, ordered them
