"""Where the record lives: a SQLite file in WAL mode (`AUDIT_DSN`,
`sqlite:///path`), one row per patient answered, each row holding the hash
of the one before it, so that `verify` finds the first row altered or
deleted.

Rows are appended in one transaction per group (`append`), which takes
SQLite's write lock (BEGIN IMMEDIATE) before reading the last hash: several
workers, or a CLI, may share the file; a writer waits for the lock up to
BUSY_TIMEOUT_MS rather than failing with "database is locked". Every commit
is flushed to disk (synchronous=FULL): an answer whose row committed
survives a crash of the process and of the machine.

The schema is versioned (PRAGMA user_version = SCHEMA_VERSION); a file of
another version is refused at start-up, never changed silently.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.record.rows import GENESIS, Row, row_hash, uuid7

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT,
    received_at REAL NOT NULL,
    answered_at REAL NOT NULL,
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
    observed_at REAL NOT NULL,
    recorded_at REAL NOT NULL,
    caller TEXT
);
CREATE INDEX IF NOT EXISTS outcomes_prediction_id ON outcomes (prediction_id);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome_at REAL NOT NULL,
    recorded_at REAL NOT NULL,
    caller TEXT
);
CREATE TABLE IF NOT EXISTS prunes (
    at REAL NOT NULL,
    before REAL NOT NULL,
    deleted INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
"""


class StoreError(Exception):
    """The record cannot be opened or written; the message says why."""


def _dicts(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    """A query's rows as {column: value}."""
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


def _known(db: sqlite3.Connection, row_id: str) -> bool:
    return db.execute("SELECT 1 FROM predictions WHERE id = ?", (row_id,)).fetchone() is not None


def sqlite_path(dsn: str) -> Path:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` DSN."""
    if not dsn.startswith("sqlite:///"):
        raise StoreError(f"AUDIT_DSN {dsn.split(':')[0]}:... is not supported; use sqlite:///path")
    return Path(dsn.removeprefix("sqlite:///"))


class SqliteStore:
    """The record in one SQLite file."""

    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms  # how long a write waits for the lock
        self._local = threading.local()  # one connection per thread
        self._all: list[sqlite3.Connection] = []

    def open(self) -> None:
        """Create the file and schema if needed; StoreError if unusable."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._db()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(
                    f"{self.path}: record schema {version}, this service writes {SCHEMA_VERSION}"
                )
            if version == 0:  # a new file (an existing one is only read: no lock taken)
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the record ({exc})") from None

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,  # used by one thread; closed by another
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
            self._all.append(db)
        if getattr(self._local, "busy", None) != self.busy_timeout_ms:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._local.busy = self.busy_timeout_ms
        return db

    def append(self, rows: list[Row], skip_known: bool = False) -> None:
        """Append `rows` in one transaction, chained to the last row;
        `skip_known`: leave out rows whose id is already there (a replay)."""
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            if skip_known:
                rows = [r for r in rows if not _known(db, r.id)]
            last = db.execute(
                "SELECT row_hash FROM predictions ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            prev = last[0] if last else GENESIS
            values = []
            for row in rows:
                digest = row_hash(prev, row)
                values.append((*row, prev, digest))
                prev = digest
            db.executemany(
                "INSERT INTO predictions (id, request_id, received_at, answered_at, route, "
                "model_version, artifact_sha256, caller, status, error_code, inputs, outputs, "
                "prev_hash, row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot write the record ({exc})") from None

    def rows(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row (oldest first), answered in [since, until) when given."""
        query = "SELECT * FROM predictions WHERE answered_at >= ? AND answered_at < ? ORDER BY seq"
        cursor = self._db().execute(query, (since or 0.0, until or float("inf")))
        yield from _dicts(cursor)

    def query(
        self, filters: dict[str, Any], after: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Up to `limit` rows after row number `after` (oldest first) whose
        columns equal `filters` (model_version, request_id, caller, id), and
        answered in [since, until) when `filters` has them."""
        where, values = ["seq > ?"], [after]
        for column in ("id", "model_version", "request_id", "caller"):
            if filters.get(column) is not None:
                where.append(f"{column} = ?")
                values.append(filters[column])
        if filters.get("since") is not None:
            where.append("answered_at >= ?")
            values.append(filters["since"])
        if filters.get("until") is not None:
            where.append("answered_at < ?")
            values.append(filters["until"])
        sql = f"SELECT * FROM predictions WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        cursor = self._db().execute(sql, (*values, limit))
        return list(_dicts(cursor))

    def recent(self, n: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The last `n` answers (oldest first), and the latest outcome of
        each that has one."""
        db = self._db()
        cursor = db.execute(
            "SELECT * FROM (SELECT * FROM predictions WHERE route != 'prune' "
            "ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (n,),
        )
        rows = list(_dicts(cursor))
        found = db.execute(
            "SELECT prediction_id, outcome FROM outcomes WHERE prediction_id IN "
            "(SELECT id FROM predictions ORDER BY seq DESC LIMIT ?) ORDER BY recorded_at",
            (n,),
        )
        return rows, dict(found.fetchall())

    def add_outcome(
        self, prediction_id: str, outcome: int, observed_at: float, caller: str | None
    ) -> str:
        """Link what was later found (1: disease) to a recorded answer; the
        outcome's id."""
        now = time.time()
        outcome_id = uuid7(now)
        self._write("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?)",
                    [(outcome_id, prediction_id, outcome, observed_at, now, caller)])  # fmt: skip
        return outcome_id

    def add_feedback(self, items: list[tuple[str, str, str, float]], caller: str | None) -> None:
        """CDS Hooks feedback: (card uuid, outcome, the entry's JSON, when) each."""
        now = time.time()
        self._write(
            "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (uuid7(now), card, outcome, detail, at, now, caller)
                for card, outcome, detail, at in items
            ],
        )

    def _write(self, sql: str, values: list[tuple[Any, ...]]) -> None:
        try:
            self._db().executemany(sql, values)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot write the record ({exc})") from None

    def prune(self, before: float, now: float | None = None) -> int:
        """Delete the rows answered before `before`; how many. The hash of the
        last one deleted is kept (table `prunes`), so that `verify` still
        checks the rest from it; the prune itself is appended as a row
        (route `prune`, outputs `{"deleted": n, "before": ...}`)."""
        db = self._db()
        now = time.time() if now is None else now
        try:
            db.execute("BEGIN IMMEDIATE")
            last = db.execute(
                "SELECT seq, row_hash FROM predictions WHERE answered_at < ? "
                "ORDER BY seq DESC LIMIT 1",
                (before,),
            ).fetchone()
            deleted = 0
            if last is not None:
                deleted = db.execute("DELETE FROM predictions WHERE seq <= ?", (last[0],)).rowcount
                db.execute(
                    "INSERT INTO prunes VALUES (?, ?, ?, ?)", (now, before, deleted, last[1])
                )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot prune the record ({exc})") from None
        note = json.dumps({"deleted": deleted, "before": before})
        self.append(
            [Row(uuid7(now), None, now, now, "prune", None, None, None, 200, None, None, note)]
        )
        return deleted

    def verify(self) -> tuple[int, str | None]:
        """(rows checked, the id of the first row altered, or following a
        deleted row; None when the chain is whole). After a prune, the chain
        is checked from the hash of the last row pruned."""
        anchor = self._db().execute("SELECT last_hash FROM prunes ORDER BY rowid DESC LIMIT 1")
        kept = anchor.fetchone()
        prev = kept[0] if kept else GENESIS
        count = 0
        for stored in self.rows():
            fields = {k: stored[k] for k in Row._fields}
            if stored["prev_hash"] != prev or row_hash(prev, Row(**fields)) != stored["row_hash"]:
                return count, stored["id"]
            prev = stored["row_hash"]
            count += 1
        return count, None

    def close(self) -> None:
        """Close every thread's connection (once nothing writes any more)."""
        for db in self._all:
            db.close()
        self._all.clear()
        self._local = threading.local()
