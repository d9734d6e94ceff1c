"""The record's tables, the same for both databases (`app.record.sqlite`,
`app.record.postgres`), their version, and how a record of an earlier
version is brought to this one (`MIGRATIONS`, applied at start-up under the
record's write lock); a record of a later version is refused, never changed.

- 1: one row per patient answered.
- 2: one row per request (`patients` answers in it: a batch is one row).
  A row of schema 1 is a row of one patient, and its hash is unchanged.
"""

SCHEMA_VERSION = 2

MIGRATIONS = {
    1: "ALTER TABLE predictions ADD COLUMN patients INTEGER NOT NULL DEFAULT 1",
}
"""The statement taking a record of version v to v + 1, for both databases."""

# The tables, for both databases: {seq} is an auto-increasing row number,
# {real} a 64-bit float.
TABLES = """
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
    row_hash TEXT NOT NULL,
    patients INTEGER NOT NULL DEFAULT 1
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
