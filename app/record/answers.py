"""Reading the record one answer per patient, whatever its rows hold (one
request each, a batch's patients in one row: `app.record.rows.answers_in`):
for the audit API, outcomes, monitoring and the `audit` command.

A page's cursor (`Cursor`) is a row and the last answer read in it, so that
a page may end inside a batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

from app.record.rows import answers_in
from app.record.store import PAGE_ROWS, Store

FILTERED = ("model_version", "request_id", "caller")  # columns a page may be filtered on


class Cursor(NamedTuple):
    """After the answer of row `seq` whose `index` is `patient` (None:
    after the whole row)."""

    seq: int = 0
    patient: int | None = None

    def __str__(self) -> str:
        return str(self.seq) if self.patient is None else f"{self.seq}.{self.patient}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """`seq` or `seq.patient`, as `str` writes them."""
        if not text:
            return cls()
        seq, _, index = text.partition(".")
        return cls(int(seq), int(index) if index else None)


START = Cursor()
"""Before the first answer."""
FIRST_ROWS = 16  # rows a page reads first; it reads twice as many each time it needs more


def every(
    store: Store, since: float | None = None, until: float | None = None
) -> Iterator[dict[str, Any]]:
    """Every answer (oldest first), answered in [since, until) when given."""
    for row in store.rows(since, until):
        yield from answers_in(row)


def page(
    store: Store, filters: dict[str, Any], after: Cursor = START, limit: int = 100
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """Up to `limit` answers after `after` (oldest first) whose rows' columns
    equal `filters` (FILTERED), answered in [since, until) when `filters`
    has them; and the cursor of the next page (None on the last)."""
    where, values = [], []
    for column in FILTERED:
        if filters.get(column) is not None:
            where.append(f" AND {column} = ?")
            values.append(filters[column])
    for column, test in (("since", ">="), ("until", "<")):
        if filters.get(column) is not None:
            where.append(f" AND answered_at {test} ?")
            values.append(filters[column])
    sql = f"SELECT * FROM predictions WHERE seq >= ?{''.join(where)} ORDER BY seq LIMIT ?"
    seen = math.inf if after.patient is None else after.patient  # of the row `after.seq`
    start, rows_wanted = after.seq, FIRST_ROWS
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    while len(found) <= limit:  # rows read a few, then more: a batch's row holds many answers
        rows = store.read(sql, (start, *values, rows_wanted))
        found += [
            (row, a)
            for row in rows
            for a in answers_in(row)
            if row["seq"] != after.seq or a["index"] > seen
        ]
        if len(rows) < rows_wanted:
            break
        start, rows_wanted = rows[-1]["seq"] + 1, min(2 * rows_wanted, limit + 2)
    if len(found) <= limit:
        return [a for _, a in found], None
    row, last = found[limit - 1]
    end = None if last["index"] == row["patients"] - 1 else last["index"]
    return [a for _, a in found[:limit]], Cursor(row["seq"], end)


def find(store: Store, answer_id: str) -> dict[str, Any] | None:
    """The answer whose id is `answer_id`: in the row with the greatest
    first id not above it (a row's patients have consecutive ids)."""
    rows = store.read(
        "SELECT * FROM predictions WHERE id <= ? ORDER BY id DESC LIMIT 1", (answer_id,)
    )
    for row in rows:
        for answer in answers_in(row):
            if answer["id"] == answer_id:
                return answer
    return None


def recent(store: Store, n: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The last `n` answers (oldest first), and the latest outcome of each
    that has one."""
    rows: list[dict[str, Any]] = []
    held, before = 0, None
    while held < n:  # at most n rows: each holds one answer or more
        chunk = store.read(
            "SELECT * FROM predictions WHERE route != 'prune' AND seq < ? "
            "ORDER BY seq DESC LIMIT ?",
            (before if before is not None else 2**62, min(PAGE_ROWS, n - held)),
        )
        if not chunk:
            break
        rows.extend(chunk)
        held += sum(row["patients"] for row in chunk)
        before = chunk[-1]["seq"]
    answers = [a for row in reversed(rows) for a in answers_in(row)][-n:] if n else []
    if not answers:
        return [], {}
    ids = {a["id"] for a in answers}
    found = store.read(
        "SELECT prediction_id, outcome FROM outcomes WHERE prediction_id >= ? ORDER BY recorded_at",
        (min(ids),),
    )
    return answers, {f["prediction_id"]: f["outcome"] for f in found if f["prediction_id"] in ids}
