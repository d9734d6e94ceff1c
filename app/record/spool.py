"""Where rows wait when the record's database cannot take them: a local
append-only file, one JSON array (a Row's fields) per line, flushed to disk
(fsync) like a commit, so that a row spooled is as durable as a row
committed. `app.record.recorder` replays it, in order, once the database
answers again; replay skips rows already there (a crash between the
replay's commit and `clear` repeats nothing).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from app.record.rows import Row


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.since: float | None = None  # when the oldest row waiting was spooled
        if path.is_file() and path.stat().st_size > 0:  # left by a previous process
            self.since = path.stat().st_mtime

    @property
    def waiting(self) -> bool:
        return self.since is not None

    def age(self) -> float:
        """Seconds the oldest row has waited (0 when none)."""
        return 0.0 if self.since is None else time.time() - self.since

    def append(self, rows: list[Row]) -> None:
        """Write `rows` durably (OSError when it cannot)."""
        text = "".join(json.dumps(list(row)) + "\n" for row in rows)
        with self.path.open("a", encoding="utf-8") as spool:
            spool.write(text)
            spool.flush()
            os.fsync(spool.fileno())
        if self.since is None:
            self.since = time.time()

    def rows(self) -> list[Row]:
        """Every row waiting, oldest first (a torn last line, from a crash
        mid-write of a row never acknowledged, is left out)."""
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(Row(*json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out

    def clear(self) -> None:
        """Empty the spool once its rows are in the database."""
        with self.path.open("w", encoding="utf-8") as spool:
            os.fsync(spool.fileno())
        self.since = None
