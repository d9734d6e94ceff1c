"""The record in one SQLite file in WAL mode (`AUDIT_DSN=sqlite:///path`,
the default): one server, one or several workers.

The write lock is SQLite's own (BEGIN IMMEDIATE), waited for up to
busy_timeout_ms; every commit is flushed to disk (synchronous=FULL). The
schema version is PRAGMA user_version: an earlier version is migrated under
the write lock, this version only read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.record.schema import SCHEMA_VERSION, TABLES
from app.record.store import BUSY_TIMEOUT_MS, Store, StoreError

SCHEMA = TABLES.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL")


def sqlite_path(dsn: str) -> Path:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` DSN."""
    if not dsn.startswith("sqlite:///"):
        raise StoreError(f"AUDIT_DSN {dsn.split(':')[0]}:... is not a SQLite DSN")
    return Path(dsn.removeprefix("sqlite:///"))


class SqliteStore(Store):
    """The record in one SQLite file."""

    errors = (sqlite3.Error, OSError)

    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        super().__init__(busy_timeout_ms)
        self.path = path
        self.name = str(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # pooled: used by one thread at a time
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _set_timeout(self, db: sqlite3.Connection, ms: int) -> None:
        db.execute(f"PRAGMA busy_timeout = {ms}")

    def _open_schema(self, db: sqlite3.Connection) -> None:
        version = self._version(db)
        if version == 0:
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            with self._transaction(db):  # the version read again: another process may have
                self._migrate(db, self._version(db))  # migrated it meanwhile
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _version(self, db: sqlite3.Connection) -> int:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: record schema {version}, newer than this service's "
                f"{SCHEMA_VERSION}: run the service that wrote it"
            )
        return version

    def _begin_write(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
