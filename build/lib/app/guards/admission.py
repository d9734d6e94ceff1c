"""Admission, per worker process: what the door (`app.guards.connections`,
before a request costs anything) and the explanation routes share.

Shedding decides only on what is in flight now: MAX_CONCURRENCY requests in
the app, or a full explanation backlog. A worker with free capacity never
sheds, however long its last request took.

Heavy scoring runs in worker threads (`app.api.scoring.scored`),
explanations in one of EXPLAIN_THREADS (`app.api.explain`), so that cheap
requests keep flowing on the event loop.
"""

from __future__ import annotations

EXPLAIN_THREADS = 2
EXPLAIN_BACKLOG = 32
"""Most patients waiting for or in an explanation per worker, beyond the
first request (always taken, up to MAX_EXPLAIN_BATCH)."""
EXPLAIN_MAX_WAIT = 0.25
"""Seconds an admitted explanation may wait for a thread; then it is
answered 503 rather than computed."""
EXPLAIN_PATHS = frozenset({b"/explain", b"/explain/batch"})
"""The routes of app.api.explain (a test holds the two equal)."""


class Backlog:
    """Patients waiting for or in an explanation in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0

    def full(self, patients: int) -> bool:
        """Whether `patients` more must try again later (an idle worker
        takes any request)."""
        return self.pending > 0 and self.pending + patients > self.limit


EXPLANATIONS = Backlog(EXPLAIN_BACKLOG)
