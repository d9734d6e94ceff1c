"""Where a commit of the record's writer spends its CPU, by phase: the write
lock, the last row's hash, the rows' hashes, the INSERT and the COMMIT
(with its fsync), per row of a commit of 16 rows (what strict mode gathers
at 16 connections), on a SQLite record already holding 20,000 rows. Rows
whose request ids are random, and rows whose request ids are in time order
(as the service makes them), in the same run, and the ratio; then rows in
time order committed as the service does (synchronous=FULL: one fsync a
commit) against the same with synchronous=OFF, which the service never uses:
what the fsync costs the writer's CPU.

    python -m benchmarks.record_append [--commits 300]

CPU is the writer thread's own (`time.thread_time`), not the wall clock.
docs/performance.md reads it ("The record at the service's speed").
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from app.record.rows import Row, uuid7
from app.record.sqlite import SqliteStore
from app.record.store import _INSERT, LAST_HASH, chained
from benchmarks.harness import SINGLE_BODY
from scripts import cli

PHASES = ("lock", "last hash", "hashes", "insert", "commit")
ROWS = 16
_ANSWER = json.dumps(
    {"probability": 0.4104865205544248, "class": 0, "label": "absence",
     "model_version": "0.1.0+2efa9f462c6c",
     "interval": {"low": 0.27, "high": 0.49, "level": 0.9}, "warnings": []}
)  # fmt: skip


def row(ordered: bool) -> Row:
    """A /predict row as the service writes it; its request id random or in time order."""
    now = time.time()
    request_id = uuid7(now).replace("-", "") if ordered else os.urandom(16).hex()
    inputs = SINGLE_BODY.decode()
    return Row(uuid7(now), request_id, now, now, "/predict", "0.1.0", "a" * 64, None, 200,
               None, inputs, _ANSWER)  # fmt: skip


def phases(
    path: Path, ordered: bool, commits: int, before: int, durable: bool = True
) -> dict[str, float]:
    """Microseconds of CPU a row in each phase, over `commits` commits of
    ROWS rows, after `before` commits to fill the record; with `durable`
    False the commits measured are not flushed to disk (synchronous=OFF)."""
    store = SqliteStore(path)
    store.open()
    for _ in range(before):
        store.append([row(ordered) for _ in range(ROWS)])
    spent = dict.fromkeys(PHASES, 0.0)
    with store._connection("measure") as db:
        if not durable:
            db.execute("PRAGMA synchronous=OFF")
        for _ in range(commits):
            rows = [row(ordered) for _ in range(ROWS)]
            marks = [time.thread_time()]
            store._begin_write(db)
            marks.append(time.thread_time())
            prev = db.execute(LAST_HASH).fetchone()[0]
            marks.append(time.thread_time())
            values = chained(prev, rows)
            marks.append(time.thread_time())
            db.executemany(_INSERT, values)
            marks.append(time.thread_time())
            db.execute("COMMIT")
            marks.append(time.thread_time())
            for name, start, end in zip(PHASES, marks, marks[1:], strict=False):
                spent[name] += end - start
    store.close()
    return {name: s / commits / ROWS * 1e6 for name, s in spent.items()}


def report(
    first: dict[str, float],
    second: dict[str, float],
    names: tuple[str, str] = ("random request ids", "in time order"),
) -> list[str]:
    lines = [f"| phase | {names[0]}, us a row | {names[1]} | ratio |"]
    lines.append("|---|---|---|---|")
    for name in (*PHASES, "total"):
        a = sum(first.values()) if name == "total" else first[name]
        b = sum(second.values()) if name == "total" else second[name]
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    return lines


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--commits", type=int, default=300, help="commits measured")
    parser.add_argument("--before", type=int, default=1250, help="commits that fill the record")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        random_ids = phases(Path(tmp) / "random.sqlite3", False, args.commits, args.before)
        ordered_ids = phases(Path(tmp) / "ordered.sqlite3", True, args.commits, args.before)
        unflushed = phases(Path(tmp) / "off.sqlite3", True, args.commits, args.before, False)
    print("\n".join(report(random_ids, ordered_ids)))
    print()
    print("\n".join(report(ordered_ids, unflushed, ("synchronous=FULL", "synchronous=OFF"))))


if __name__ == "__main__":
    main()
