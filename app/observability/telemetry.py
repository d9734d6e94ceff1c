"""Request telemetry: every answered request becomes one `RequestEvent`,
counted in Prometheus (`app.observability.metrics`) and written as a JSON
log line (`app.observability.logs`), in batches.

`observe` only appends, on the request path; `flush` counts and formats,
once MAX_EVENTS wait or the oldest is MAX_DELAY seconds old, before
/metrics answers, and at shutdown. A crash loses at most MAX_DELAY seconds
of lines and samples."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence

from app.observability.events import RequestEvent
from app.observability.logs import write_request_lines
from app.observability.metrics import observe_requests

Sink = Callable[[Iterable[RequestEvent]], None]


class Telemetry:
    """The buffer of answered requests, its flushing, and its shutdown."""

    MAX_DELAY = 0.2
    MAX_EVENTS = 256

    def __init__(self, sinks: Sequence[Sink] = (observe_requests, write_request_lines)) -> None:
        self.sinks = tuple(sinks)
        self._pending: list[RequestEvent] = []
        self._oldest = 0.0
        self._task: asyncio.Task[None] | None = None

    def observe(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        request_id: str,
        model_version: str | None,
        api_key_name: str | None = None,
        cds_issuer: str | None = None,
    ) -> None:
        """Note one answered request (flushing when the buffer is full or old)."""
        now = time.time()
        pending = self._pending
        if not pending:
            self._oldest = now
        pending.append(
            RequestEvent(
                now,
                method,
                route,
                status,
                seconds,
                request_id,
                model_version,
                api_key_name,
                cds_issuer,
            )
        )
        if len(pending) >= self.MAX_EVENTS or now - self._oldest >= self.MAX_DELAY:
            self.flush()

    def flush(self) -> None:
        """Hand every pending event to the sinks (metrics, then the log)."""
        if self._pending:
            events, self._pending = self._pending, []
            for sink in self.sinks:
                sink(events)

    async def start(self) -> None:
        """Start flushing every MAX_DELAY seconds (from the app's lifespan)."""
        self._task = asyncio.create_task(self._flush_periodically())

    async def stop(self) -> None:
        """Stop the periodic flush and flush what is left (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.MAX_DELAY)
            self.flush()
