"""Admission under overload: what the door (`app.guards.connections`, before a
request costs anything) and the explanation routes share, per worker
process.

`LoopLag` says how late this process's event loop runs: the door sheds
every request but the probes while it is later than MAX_LOOP_LAG.

Explanations take milliseconds each in a worker thread (`EXPLAIN_THREADS` at
once). On a calm loop a queue of `EXPLAIN_BACKLOG` patients waits about a
tenth of a second; on a loop busy with hundreds of connections, each hand-
over between the loop and a thread waits for the loop's next turns (about
0.2 s each, measured at 1,000 connections), so a queue of 32 waited 4.5 s.
So while the loop is later than `CALM_LAG`, only as many patients as there
are threads are admitted. Beyond that a new explanation request is answered
503 `overloaded` at the door, where it costs a few microseconds rather than
a pass through the app (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

EXPLAIN_THREADS = 2
EXPLAIN_BACKLOG = 32
"""Most patients waiting for or in an explanation per worker, beyond the
first request (always taken, up to MAX_EXPLAIN_BATCH): about 32 x 8 ms / 2
threads = 0.13 s of waiting on an idle machine."""
EXPLAIN_MAX_WAIT = 0.25
"""Seconds an admitted explanation may wait for a thread; then it is
answered 503 rather than computed (the hand-overs that follow cost as much
again on a busy loop)."""
EXPLAIN_PATHS = frozenset({b"/explain", b"/explain/batch"})
"""The routes of app.api.explain (a test holds the two equal)."""


CALM_LAG = 0.05
"""Seconds late below which the loop hands work to and from threads at once."""


class Backlog:
    """Patients waiting for or in an explanation in this process."""

    def __init__(self, limit: int, busy_limit: int) -> None:
        self.limit, self.busy_limit = limit, busy_limit
        self.pending = 0

    def full(self, patients: int, lag: float) -> bool:
        """Whether `patients` more must try again later, the loop being
        `lag` seconds late (an idle worker takes any request)."""
        limit = self.limit if lag <= CALM_LAG else self.busy_limit
        return self.pending > 0 and self.pending + patients > limit


EXPLANATIONS = Backlog(EXPLAIN_BACKLOG, EXPLAIN_THREADS)


class LoopLag:
    """How late this process's event loop runs its timers, measured every
    INTERVAL seconds: a busy loop runs them late."""

    INTERVAL = 0.05
    _by_loop: ClassVar[dict[int, LoopLag]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.lag = loop, 0.0
        self._due = loop.time() + self.INTERVAL
        loop.call_later(self.INTERVAL, self._tick)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> LoopLag:
        monitor = cls._by_loop.get(id(loop))
        if monitor is None or monitor.loop is not loop:
            monitor = cls._by_loop[id(loop)] = cls(loop)
        return monitor

    def _tick(self) -> None:
        now = self.loop.time()
        self.lag = max(0.0, now - self._due)
        self._due = now + self.INTERVAL
        self.loop.call_later(self.INTERVAL, self._tick)
