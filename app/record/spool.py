"""Where rows wait when the record's database cannot take them: a local
append-only file, one JSON array (a Row's fields) per line, fsynced like a
commit, replayed in order once the database answers (rows already there
are skipped, so a crash mid-replay repeats nothing).

Each process holds its own file (`Spool.claim`, an exclusive flock on the
first of `<path>`, `<path>.1`, ... that no live process holds), and adopts
at start-up the files no live process holds, left by a crash."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO

from app.record.rows import Row

SLOTS = 64  # spool files per base path: more than any host's workers


def _hold(path: Path) -> IO[str] | None:
    """An open handle holding `path`'s exclusive lock, or None when another
    process holds it (OSError when the file cannot be opened)."""
    handle = path.open("a", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class Spool:
    @classmethod
    def claim(cls, base: Path) -> Spool:
        """This process's spool: the first free slot of `base`, holding the
        rows of unheld slots too. A slot that cannot be opened is returned
        as it is: its writes fail, and strict requests get 503."""
        for i in range(SLOTS):
            path = base if i == 0 else base.with_name(f"{base.name}.{i}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = _hold(path)
            except OSError:
                return cls(path)
            if handle is not None:
                spool = cls(path, handle)
                spool._adopt([base, *(base.with_name(f"{base.name}.{j}") for j in range(1, SLOTS))])
                return spool
        raise OSError(f"{base}: all {SLOTS} spool files are held by other processes")

    def __init__(self, path: Path, lock: IO[str] | None = None) -> None:
        self.path = path
        self._lock = lock  # the handle holding this file's flock, if claimed
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
        if not rows:
            return
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

    def _adopt(self, others: list[Path]) -> None:
        """Move here the rows of the spools in `others` that no process holds."""
        for other in others:
            if other == self.path or not other.is_file() or other.stat().st_size == 0:
                continue
            handle = _hold(other)
            if handle is None:
                continue  # a live process's: it replays its own
            with handle:
                orphan = Spool(other)
                self.append(orphan.rows())  # durable here before it is cleared there
                orphan.clear()

    @property
    def claimed(self) -> bool:
        """This process holds the file (False: it could not be opened)."""
        return self._lock is not None

    def close(self) -> None:
        """Let another process claim this file (at shutdown)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def clear(self) -> None:
        """Empty the spool once its rows are in the database."""
        with self.path.open("w", encoding="utf-8") as spool:
            os.fsync(spool.fileno())
        self.since = None
