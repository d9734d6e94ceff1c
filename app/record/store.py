"""Where the record lives, whatever the database: one row per request
answered (a batch's patients in one row), each holding the hash of the one
before it, so that `verify` finds the first row altered or deleted.

`Store` holds the SQL, written once; a subclass says how to connect and how
to take the write lock (`app.record.sqlite`, `app.record.postgres`). An
`append` is one transaction under that lock, durable before it returns, or
StoreError within `busy_timeout_ms` (the recorder then spools the rows). A
connection that failed is dropped and the next call opens a new one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from app.record.rows import GENESIS, Row, row_hash, uuid7
from app.record.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 10_000
PAGE_ROWS = 100  # rows() reads this many at a time (a batch's row holds up to MAX_BATCH answers):
# an export never holds the record in memory

_COLUMNS = ", ".join(Row._fields)
_INSERT = (
    f"INSERT INTO predictions ({_COLUMNS}, prev_hash, row_hash) "
    f"VALUES ({', '.join('?' * (len(Row._fields) + 2))})"
)


LAST_HASH = "SELECT row_hash FROM predictions ORDER BY seq DESC LIMIT 1"


def chained(prev: str, rows: list[Row]) -> list[tuple[Any, ...]]:
    """`rows` as the INSERT's values, each with the previous row's hash and
    its own, after the row whose hash is `prev`."""
    values = []
    for row in rows:
        digest = row_hash(prev, row)
        values.append((*row, prev, digest))
        prev = digest
    return values


class StoreError(Exception):
    """The record cannot be opened or written; the message says why."""


class Store:
    """The record's SQL; a subclass connects (`_connect`), sets a
    connection's timeout (`_set_timeout`), creates or checks the schema
    (`_open_schema`) and takes the write lock (`_begin_write`). Queries are
    written with `?` placeholders; `_sql` adapts them."""

    name = "the record"  # in messages: the file, or the server (never a password)
    errors: tuple[type[Exception], ...] = (OSError,)  # and the database's own

    def __init__(self, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.busy_timeout_ms = busy_timeout_ms  # how long a write waits for the lock
        self._free: list[Any] = []  # connections not in use
        self._timeouts: dict[int, int] = {}  # id(connection) -> timeout it has
        self._all: list[Any] = []
        self._lock = threading.Lock()

    # -- what a database says for itself ------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _set_timeout(self, db: Any, ms: int) -> None:
        raise NotImplementedError

    def _open_schema(self, db: Any) -> None:
        raise NotImplementedError

    def _begin_write(self, db: Any) -> None:
        raise NotImplementedError

    def _migrate(self, db: Any, version: int) -> None:
        """Bring a record of schema `version` to SCHEMA_VERSION (`_open_schema`
        calls this inside the write lock)."""
        for step in range(version, SCHEMA_VERSION):
            db.execute(MIGRATIONS[step])

    def _sql(self, query: str) -> str:
        return query

    # -- connections --------------------------------------------------------

    def open(self) -> None:
        """Create the schema if needed; StoreError if the record is unusable
        (or of another schema version: never changed silently)."""
        try:
            with self._connection("open the record") as db:
                self._open_schema(db)
        except StoreError:
            self.close()
            raise

    @contextmanager
    def _connection(self, doing: str) -> Iterator[Any]:
        """A connection for one operation; a database error becomes
        StoreError("<name>: cannot <doing> (...)") and drops the connection
        (a server restarted under load is reconnected at the next call)."""
        with self._lock:
            db = self._free.pop() if self._free else None
        try:
            if db is None:
                db = self._connect()
                with self._lock:
                    self._all.append(db)
            if self._timeouts.get(id(db)) != self.busy_timeout_ms:
                self._set_timeout(db, int(self.busy_timeout_ms))
                self._timeouts[id(db)] = self.busy_timeout_ms
            yield db
        except self.errors as exc:
            if db is not None:
                self._drop(db)
            raise StoreError(f"{self.name}: cannot {doing} ({exc})") from None
        finally:
            if db is not None and db in self._all:  # not dropped: usable again
                with self._lock:
                    self._free.append(db)

    def _drop(self, db: Any) -> None:
        with self._lock:
            if db in self._all:
                self._all.remove(db)
        self._timeouts.pop(id(db), None)
        with suppress(Exception):  # it is being thrown away
            db.close()

    def _execute(self, db: Any, query: str, values: tuple[Any, ...] = ()) -> Any:
        return db.execute(self._sql(query), values)

    def read(self, query: str, values: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows `query` selects, each a dict of its columns."""
        with self._connection("read the record") as db:
            cursor = self._execute(db, query, values)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _write(self, query: str, values: list[tuple[Any, ...]]) -> None:
        with self._connection("write the record") as db:
            db.cursor().executemany(self._sql(query), values)

    @contextmanager
    def _transaction(self, db: Any) -> Iterator[None]:
        """A write transaction holding the record's lock; rolled back on error."""
        self._begin_write(db)
        try:
            yield
        except BaseException:
            with suppress(Exception):  # a failed connection is dropped anyway
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- the record ---------------------------------------------------------

    def append(self, rows: list[Row], skip_known: bool = False) -> None:
        """Append `rows` in one transaction, chained to the last row;
        `skip_known`: leave out rows whose id is already there (a replay)."""
        with self._connection("write the record") as db, self._transaction(db):
            if skip_known:
                known = self._known(db, [r.id for r in rows])
                rows = [r for r in rows if r.id not in known]
            last = self._execute(db, LAST_HASH).fetchone()
            db.cursor().executemany(self._sql(_INSERT), chained(last[0] if last else GENESIS, rows))

    def _known(self, db: Any, ids: list[str]) -> set[str]:
        """Which of `ids` are in the record already (one query)."""
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        found = self._execute(db, f"SELECT id FROM predictions WHERE id IN ({marks})", (*ids,))
        return {row[0] for row in found.fetchall()}

    def rows(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row (oldest first), answered in [since, until) when given;
        read PAGE_ROWS at a time."""
        after = 0
        while True:
            page = self.read(
                "SELECT * FROM predictions WHERE seq > ? AND answered_at >= ? "
                "AND answered_at < ? ORDER BY seq LIMIT ?",
                (after, since or 0.0, until or float("inf"), PAGE_ROWS),
            )
            yield from page
            if len(page) < PAGE_ROWS:
                return
            after = page[-1]["seq"]

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

    def prune(self, before: float, now: float | None = None) -> int:
        """Delete the rows answered before `before`; how many answers they
        held. The hash of the last one deleted is kept (table `prunes`), so
        that `verify` still checks the rest from it; the prune itself is
        appended as a row (route `prune`, outputs `{"deleted": n, "before": ...}`)."""
        now = time.time() if now is None else now
        with self._connection("prune the record") as db, self._transaction(db):
            last = self._execute(
                db,
                "SELECT seq, row_hash FROM predictions WHERE answered_at < ? "
                "ORDER BY seq DESC LIMIT 1",
                (before,),
            ).fetchone()
            deleted = 0
            if last is not None:
                counted = "SELECT COALESCE(SUM(patients), 0) FROM predictions WHERE seq <= ?"
                deleted = int(self._execute(db, counted, (last[0],)).fetchone()[0])
                self._execute(db, "DELETE FROM predictions WHERE seq <= ?", (last[0],))
                self._execute(db, "INSERT INTO prunes (at, before, deleted, last_hash) "
                              "VALUES (?, ?, ?, ?)", (now, before, deleted, last[1]))  # fmt: skip
        note = json.dumps({"deleted": deleted, "before": before})
        self.append(
            [Row(uuid7(now), None, now, now, "prune", None, None, None, 200, None, None, note)]
        )
        return deleted

    def verify(self) -> tuple[int, str | None]:
        """(rows checked, the id of the first row altered, or following a
        deleted row; None when the chain is whole). After a prune, the chain
        is checked from the hash of the last row pruned (the prune reaching
        furthest: a later prune of earlier rows deletes none and is not kept)."""
        kept = self.read("SELECT last_hash FROM prunes ORDER BY before DESC LIMIT 1")
        prev = kept[0]["last_hash"] if kept else GENESIS
        count = 0
        for stored in self.rows():
            fields = {k: stored[k] for k in Row._fields}
            if stored["prev_hash"] != prev or row_hash(prev, Row(**fields)) != stored["row_hash"]:
                return count, stored["id"]
            prev = stored["row_hash"]
            count += 1
        return count, None

    def close(self) -> None:
        """Close every connection (once nothing uses the store any more)."""
        with self._lock:
            every, self._all, self._free = self._all, [], []
        for db in every:
            self._drop(db)
