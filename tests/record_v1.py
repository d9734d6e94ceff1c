"""A record as schema 1 wrote it (one row per patient; the tables as
app/record/schema.py had them at version 1, copied here, not imported), for
the migration tests: an earlier record is migrated and read, never refused
or lost. The rows' hashes are computed here the way version 1 did, as an
independent check that they verify unchanged."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS predictions (
    seq {seq},
    id TEXT NOT NULL UNIQUE,
    request_id TEXT,
    received_at {real} NOT NULL,
    answered_at {real} NOT NULL,
    route TEXT NOT NULL,
    model_version TEXT,
    artifact_sha256 TEXT,
    caller TEXT,
    status INTEGER NOT NULL,
    error_code TEXT,
    inputs TEXT,
    outputs TEXT,
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_answered_at ON predictions (answered_at);
CREATE INDEX IF NOT EXISTS predictions_request_id ON predictions (request_id);
CREATE TABLE IF NOT EXISTS outcomes (
    id TEXT PRIMARY KEY,
    prediction_id TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    observed_at {real} NOT NULL,
    recorded_at {real} NOT NULL,
    caller TEXT
);
CREATE INDEX IF NOT EXISTS outcomes_prediction_id ON outcomes (prediction_id);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome_at {real} NOT NULL,
    recorded_at {real} NOT NULL,
    caller TEXT
);
CREATE TABLE IF NOT EXISTS prunes (
    at {real} NOT NULL,
    before {real} NOT NULL,
    deleted BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
"""

GENESIS = "0" * 64


def rows_1(patients: list[dict[str, Any]], start: float) -> list[tuple[Any, ...]]:
    """Version-1 rows for `patients`, chained from GENESIS: the 12 fields
    in order, then prev_hash and row_hash (SHA-256 of the previous hash, a
    newline and the fields' compact JSON array)."""
    out, prev = [], GENESIS
    for i, patient in enumerate(patients):
        fields = [f"0190d9a0-0000-7000-8000-{i:012x}", f"old-{i}", start + i, start + i + 0.01,
                  "/predict", "0.0.1+old", "sha", "clinic", 200, None, json.dumps(patient),
                  json.dumps({"probability": 0.25 + i / 100, "warnings": []})]  # fmt: skip
        digest = hashlib.sha256(
            f"{prev}\n{json.dumps(fields, separators=(',', ':'))}".encode()
        ).hexdigest()
        out.append((*fields, prev, digest))
        prev = digest
    return out


_INSERT = (
    "INSERT INTO predictions (id, request_id, received_at, answered_at, route, model_version, "
    "artifact_sha256, caller, status, error_code, inputs, outputs, prev_hash, row_hash) "
    "VALUES ({})".format(", ".join(["?"] * 14))
)


def write_sqlite_1(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """A SQLite record file of schema 1 holding `rows`."""
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL"))
        db.executemany(_INSERT, rows)
        db.execute("PRAGMA user_version = 1")


def write_postgres_1(dsn: str, rows: list[tuple[Any, ...]]) -> None:
    """A PostgreSQL record of schema 1 holding `rows`."""
    seq = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(SCHEMA_1.format(seq=seq, real="DOUBLE PRECISION"))  # type: ignore[arg-type]
        db.execute("CREATE TABLE record_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO record_schema VALUES (1)")
        with db.cursor() as cursor:
            cursor.executemany(_INSERT.replace("?", "%s"), rows)  # type: ignore[arg-type]
