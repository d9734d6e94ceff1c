"""Which database holds the record, from AUDIT_DSN, and where its rows wait
when that database cannot take them (the spool's default place)."""

from __future__ import annotations

from pathlib import Path

from app.record.postgres import PostgresStore
from app.record.sqlite import SqliteStore, sqlite_path
from app.record.store import Store, StoreError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_SPOOL = Path("var/audit.spool")


def store_for(dsn: str) -> Store:
    """`sqlite:///path` (a file) or `postgresql://...` (a server)."""
    if dsn.startswith("sqlite:///"):
        return SqliteStore(sqlite_path(dsn))
    if dsn.startswith(POSTGRES_SCHEMES):
        return PostgresStore(dsn)
    scheme = dsn.split(":")[0]
    raise StoreError(f"AUDIT_DSN {scheme}:... is not supported; use sqlite:/// or postgresql://")


def default_spool(store: Store) -> Path:
    """Beside a SQLite file (its name plus .spool); var/audit.spool for a server."""
    if isinstance(store, SqliteStore):
        return store.path.with_name(store.path.name + ".spool")
    return POSTGRES_SPOOL
