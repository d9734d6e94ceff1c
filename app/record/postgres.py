"""The record in PostgreSQL (`AUDIT_DSN=postgresql://...`): several workers
and replicas write one record, one hash chain.

The write lock is a transaction-level advisory lock (RECORD_LOCK), taken
before the last hash is read, and the schema is created or migrated under
it. Commits are durable (synchronous_commit=on), and a statement, a connect
and a silent server each give up within seconds, so that rows go to the
spool (docs/record.md, "In PostgreSQL")."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.record.schema import SCHEMA_VERSION, TABLES
from app.record.store import BUSY_TIMEOUT_MS, Store, StoreError

RECORD_LOCK = 0x68656172742D7269  # "heart-ri": the advisory lock's key
CONNECT_TIMEOUT_S = 2

SCHEMA = TABLES.format(
    seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", real="DOUBLE PRECISION"
)
SCHEMA += "CREATE TABLE record_schema (version INTEGER NOT NULL);\n"


class PostgresStore(Store):
    """The record in a PostgreSQL database."""

    errors = (psycopg.Error, OSError)

    def __init__(self, dsn: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        super().__init__(busy_timeout_ms)
        try:
            parts = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"AUDIT_DSN is not a PostgreSQL DSN ({exc})") from None
        self.dsn = dsn
        where = f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"
        self.name = f"postgresql://{where}/{parts.get('dbname', '')}"  # no user, no password
        self._options = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "application_name": "heart-risk-service",
            **parts,  # what the DSN says wins
        }

    def _connect(self) -> psycopg.Connection[Any]:
        db = psycopg.connect(make_conninfo("", **self._options), autocommit=True)
        durability = db.execute("SHOW synchronous_commit").fetchone()
        if durability is not None and durability[0] in ("off", "local"):
            db.execute("SET synchronous_commit TO on")  # a commit must be durable
        return db

    def _set_timeout(self, db: psycopg.Connection[Any], ms: int) -> None:
        db.execute(f"SET statement_timeout = {int(ms)}")

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def _open_schema(self, db: psycopg.Connection[Any]) -> None:
        with self._transaction(db):
            if db.execute("SELECT to_regclass('record_schema')").fetchone() == (None,):
                db.execute(SCHEMA)
                db.execute("INSERT INTO record_schema VALUES (%s)", (SCHEMA_VERSION,))
                return
            found = db.execute("SELECT version FROM record_schema").fetchone()
            version = found[0] if found else 0
            if version > SCHEMA_VERSION or version < 1:
                raise StoreError(
                    f"{self.name}: record schema {version or 'unknown'}, this service "
                    f"writes {SCHEMA_VERSION} (and migrates from 1)"
                )
            self._migrate(db, version)
            db.execute("UPDATE record_schema SET version = %s", (SCHEMA_VERSION,))

    def _begin_write(self, db: psycopg.Connection[Any]) -> None:
        db.execute("BEGIN")
        db.execute("SELECT pg_advisory_xact_lock(%s)", (RECORD_LOCK,))
