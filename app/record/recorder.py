"""Recording answers with one commit for many requests (group commit), and
without losing any when the database fails (the spool).

A scoring route hands its request's row to `Recorder.record`; one flusher
task per worker appends every row waiting in one transaction, in the
recorder's own writer thread. AUDIT_MODE=strict (the default) returns once
the row is durable, committed or spooled, and 503 `record_unavailable` when
neither can be done; async returns once it is queued, in a queue bounded by
AUDIT_QUEUE_ROWS and AUDIT_QUEUE_BYTES. Modes, spool and gathering:
docs/record.md."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.observability.metrics import (
    RECORD_FLUSH,
    RECORD_PENDING_AGE,
    RECORD_QUEUE,
    RECORD_ROWS,
    RECORD_SPOOL_AGE,
)
from app.record.rows import Row
from app.record.spool import Spool
from app.record.store import Store, StoreError

log = logging.getLogger("app")

RETRY_SECONDS = 1.0  # how often a waiting spool is replayed with no new rows
REPLAY_ROWS = 500  # spooled rows per replay transaction
ASYNC_LINGER = 0.05  # async mode: seconds rows gather before a commit
STRICT_LINGER = 0.002  # strict mode: at most this long, while other requests are in flight
ROW_OVERHEAD = 400  # bytes of a row beyond its inputs and answer (ids, times, names)


def row_bytes(rows: list[Row]) -> int:
    """What `rows` weigh in the async queue's byte bound."""
    return sum(ROW_OVERHEAD + len(r.inputs or "") + len(r.outputs or "") for r in rows)


async def _wait(event: asyncio.Event, timeout: float | None) -> None:
    """Until `event` is set, for at most `timeout` seconds (then it is set):
    a timer, cheaper than a cancel scope (docs/performance.md)."""
    if timeout is None:
        await event.wait()
        return
    timer = asyncio.get_running_loop().call_later(timeout, event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()


class RecordUnavailableError(Exception):
    """The rows could not be made durable; the answer must not leave."""


class Recorder:
    def __init__(
        self,
        store: Store | None,
        spool_path: Path | None = None,
        strict: bool = True,
        queue_rows: int = 100_000,
        spool_max_age: float = 300.0,
        queue_bytes: int = 64 << 20,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        """`store` None: the record is off. `in_flight()`: how many requests
        are in the app now (none known: strict mode commits at once)."""
        self.store, self.spool_path, self.strict = store, spool_path, strict
        self._in_flight = in_flight
        self.spool: Spool | None = None  # claimed at open()
        self.queue_rows, self.queue_bytes = queue_rows, queue_bytes
        self.spool_max_age = spool_max_age
        # (rows, their bytes, when handed over, the future their request waits on, if strict)
        self._pending: list[tuple[list[Row], int, float, asyncio.Future[None] | None]] = []
        self._queued = self._queued_bytes = 0  # not yet durable (async mode's bounds)
        self._oldest: float | None = None  # when the oldest of them was handed over
        self._room: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._full = asyncio.Event()  # async mode: the queue has no more room
        self._all_in = asyncio.Event()  # strict mode: every request in the app has a row waiting
        self._writer: ThreadPoolExecutor | None = None  # the one thread that writes
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def open(self) -> None:
        """Open the store (StoreError when it cannot be used: start-up fails)
        and claim this process's spool."""
        if self.store is not None:
            self.store.open()
            if self.spool_path is not None:
                try:
                    self.spool = Spool.claim(self.spool_path)
                except OSError as exc:
                    raise StoreError(f"the record's spool: {exc}") from None
                if not self.spool.claimed:
                    log.warning("record: the spool %s cannot be written; if the database "
                                "fails, answers get 503", self.spool.path)  # fmt: skip

    def problem(self) -> str | None:
        """Why /ready must say 503 (the spool has waited too long), or None."""
        if self.spool is not None and self.spool.age() > self.spool_max_age:
            return f"the record's spool has waited {self.spool.age():.0f} s for the database"
        return None

    async def start(self) -> None:
        if self.store is not None:
            self._wake, self._room = asyncio.Event(), asyncio.Condition()
            self._full, self._all_in = asyncio.Event(), asyncio.Event()
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="record-writer")
            self._task = asyncio.create_task(self._flush_forever())
            if self.spool is not None and self.spool.waiting:
                self._wake.set()  # rows a previous process spooled: replay them

    async def stop(self) -> None:
        """Write what is waiting, then stop (at shutdown, SIGTERM included)."""
        if self._task is not None and self._wake is not None:
            self._stopping = True
            self._wake.set()
            self._full.set()  # no lingering
            self._all_in.set()  # no gathering
            await self._task  # writes what is waiting, then returns
            self._task = None
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        if self.store is not None:
            self.store.close()
        if self.spool is not None:
            self.spool.close()

    async def record(self, rows: list[Row]) -> None:
        """Strict: return once `rows` are durable (RecordUnavailableError if
        they cannot be). Async: return once they are queued."""
        if self.store is None or not rows:
            return
        if self._wake is None or self._room is None:
            raise RecordUnavailableError("the recorder is not running")
        size = row_bytes(rows)
        if not self.strict and not self._has_room():  # room is the common case: no lock then
            async with self._room:
                await self._room.wait_for(self._has_room)
        # strict: the request waits on this; async: nobody does (a failure is logged)
        done = asyncio.get_running_loop().create_future() if self.strict else None
        now = time.time()
        self._pending.append((rows, size, now, done))
        self._queued += len(rows)
        self._queued_bytes += size
        self._oldest = now if self._oldest is None else self._oldest
        self._wake.set()
        if not self._has_room():
            self._full.set()
        if done is not None:
            if self._all_handed():
                self._all_in.set()  # nobody else is coming: the gathering may end
            await done

    def _has_room(self) -> bool:
        return self._queued < self.queue_rows and self._queued_bytes < self.queue_bytes

    def _gauges(self) -> None:
        spool_age = self.spool.age() if self.spool is not None else 0.0
        queue_age = 0.0 if self._oldest is None else time.time() - self._oldest
        RECORD_SPOOL_AGE.set(spool_age)
        RECORD_QUEUE.set(self._queued)
        RECORD_PENDING_AGE.set(max(spool_age, queue_age))

    async def _flush_forever(self) -> None:
        assert self._wake is not None
        while True:
            waiting_spool = self.spool is not None and self.spool.waiting
            await _wait(self._wake, RETRY_SECONDS if waiting_spool else None)
            self._wake.clear()
            await (self._gather() if self.strict else self._linger())
            await self._flush()
            if self._stopping:
                await self._flush()  # rows that came during the last one
                return

    async def _gather(self) -> None:
        """Strict mode: while other requests are in the app, let their rows
        gather, until every one has handed its row or STRICT_LINGER has
        passed; a lone request, or a service stopping, is committed at once."""
        self._all_in.clear()
        if self._pending and not self._stopping and not self._all_handed():
            await _wait(self._all_in, STRICT_LINGER)

    def _all_handed(self) -> bool:
        """Strict mode: whether every request in the app has a row waiting
        (True when nobody counts them: nothing to gather for)."""
        return self._in_flight is None or len(self._pending) >= self._in_flight()

    async def _linger(self) -> None:
        """Async mode: let rows gather for ASYNC_LINGER before a commit
        (fewer, larger commits take less of the worker's time), unless the
        queue is full or the service is stopping."""
        if self._has_room() and not self._stopping:
            await _wait(self._full, ASYNC_LINGER)
        self._full.clear()

    async def _flush(self) -> None:
        waiting, self._pending = self._pending, []
        rows = [row for group, _, _, _ in waiting for row in group]
        self._gauges()
        if not rows and not (self.spool is not None and self.spool.waiting):
            return
        start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self._writer, self._write, rows)
        except Exception as exc:  # never let the flusher die: every waiting request would hang
            outcome = _failed(rows, f"{type(exc).__name__}: {exc}")
        RECORD_FLUSH.observe(time.perf_counter() - start)
        for _, _, _, done in waiting:
            if done is None or done.done():  # async mode, or a request that went away
                continue
            if outcome is None:
                done.set_result(None)
            else:
                done.set_exception(RecordUnavailableError(outcome))
        self._queued -= len(rows)
        self._queued_bytes -= sum(size for _, size, _, _ in waiting)
        self._oldest = self._pending[0][2] if self._pending else None
        self._gauges()
        assert self._room is not None
        async with self._room:
            self._room.notify_all()

    def _write(self, rows: list[Row]) -> str | None:
        """Make `rows` durable (in the writer thread): replay the spool, then
        commit; or spool. None, or why neither worked."""
        assert self.store is not None
        spool = self.spool
        try:
            if spool is not None and spool.waiting:
                spooled = spool.rows()
                for start in range(0, len(spooled), REPLAY_ROWS):  # the lock is held briefly
                    self.store.append(spooled[start : start + REPLAY_ROWS], skip_known=True)
                spool.clear()
                RECORD_ROWS.labels("replayed").inc(len(spooled))
                log.info("record: %d spooled rows replayed into the database", len(spooled))
            if rows:
                self.store.append(rows)
                RECORD_ROWS.labels("written").inc(len(rows))
            return None
        except (StoreError, OSError) as exc:  # OSError: the spool cannot be read
            problem = str(exc)
        if spool is None or not rows:
            return _failed(rows, problem)
        try:
            spool.append(rows)
        except OSError as exc:
            return _failed(rows, f"{problem}; and the spool cannot be written ({exc})")
        RECORD_ROWS.labels("spooled").inc(len(rows))
        log.warning("record: %d rows spooled: %s", len(rows), problem)
        return None


def _failed(rows: list[Row], problem: str) -> str:
    if rows:
        RECORD_ROWS.labels("failed").inc(len(rows))
        log.error("record: %d rows not written: %s", len(rows), problem)
    return problem
