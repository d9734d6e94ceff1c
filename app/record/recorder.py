"""Recording answers without a flush per request: group commit.

A scoring route hands its rows to `Recorder.record` and waits. One flusher
task per worker takes every row waiting, appends them all in one
transaction in a worker thread (`app.record.store`), then releases every
request that was waiting: under load, a commit carries the rows of all the
requests that arrived during the previous one. A row is durable before its
answer leaves (AUDIT_MODE=strict, the only mode so far); if it cannot be
written, the route answers 503 `record_unavailable`: no answer without a
record.

With AUDIT=off, `record` returns at once and nothing is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time

import anyio

from app.observability.metrics import RECORD_FLUSH, RECORD_ROWS
from app.record.rows import Row
from app.record.store import SqliteStore, StoreError

log = logging.getLogger("app")


class RecordUnavailableError(Exception):
    """The rows could not be made durable; the answer must not leave."""


class Recorder:
    def __init__(self, store: SqliteStore | None) -> None:
        """`store` None: the record is off."""
        self.store = store
        self._pending: list[tuple[list[Row], asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def open(self) -> None:
        """Open the store (StoreError when it cannot be used: start-up fails)."""
        if self.store is not None:
            self.store.open()

    async def start(self) -> None:
        if self.store is not None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._flush_forever())

    async def stop(self) -> None:
        """Write what is waiting, then stop (at shutdown)."""
        if self._task is not None and self._wake is not None:
            self._stopping = True
            self._wake.set()
            await self._task  # writes what is waiting, then returns
            self._task = None
        if self.store is not None:
            self.store.close()

    async def record(self, rows: list[Row]) -> None:
        """Return once `rows` are durable; RecordUnavailableError if they cannot be."""
        if self.store is None or not rows:
            return
        if self._wake is None:
            raise RecordUnavailableError("the recorder is not running")
        done = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        self._wake.set()
        await done

    async def _flush_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            if self._stopping:
                await self._flush()  # rows that came during the last one
                return

    async def _flush(self) -> None:
        waiting, self._pending = self._pending, []
        if not waiting or self.store is None:
            return
        rows = [row for group, _ in waiting for row in group]
        start = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(self.store.append, rows)
        except StoreError as exc:
            log.error("record: %d rows not written: %s", len(rows), exc)
            RECORD_ROWS.labels("failed").inc(len(rows))
            for _, done in waiting:
                if not done.done():
                    done.set_exception(RecordUnavailableError(str(exc)))
            return
        RECORD_FLUSH.observe(time.perf_counter() - start)
        RECORD_ROWS.labels("written").inc(len(rows))
        for _, done in waiting:
            if not done.done():
                done.set_result(None)
