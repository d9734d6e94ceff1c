"""Every answered request, recorded by `app.middleware.RequestContext` as
one tuple, then counted in Prometheus (`app.metrics`) and written to the
request log (`app.logs`) in batches.

Appending a tuple is all the work done on the request path: counting and
formatting run in a loop in `flush`, where they cost a fraction of what
they cost one request at a time (docs/performance.md). `flush` runs once
`MAX_RECORDS` are pending or the oldest is `MAX_DELAY` seconds old; every
`MAX_DELAY` seconds from the app's lifespan, so an idle server's lines are
not held back; before `/metrics` answers, so a scrape counts every request
this worker answered; and at shutdown. A crash loses at most `MAX_DELAY`
seconds of lines and samples.
"""

from __future__ import annotations

import time

from app.logs import request_log
from app.metrics import observe_requests

RequestRecord = tuple[float, str, str, int, float, str, str | None]
"""(time, method, route template, status, seconds taken, request id, model version)"""


class RequestRecords:
    MAX_DELAY = 0.2
    MAX_RECORDS = 256

    def __init__(self) -> None:
        self._pending: list[RequestRecord] = []
        self._oldest = 0.0

    def add(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        request_id: str,
        model_version: str | None,
    ) -> None:
        now = time.time()
        pending = self._pending
        if not pending:
            self._oldest = now
        pending.append((now, method, route, status, seconds, request_id, model_version))
        if len(pending) >= self.MAX_RECORDS or now - self._oldest >= self.MAX_DELAY:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            records, self._pending = self._pending, []
            observe_requests(records)
            request_log.write(records)


request_records = RequestRecords()
"""The process's one record of answered requests."""
