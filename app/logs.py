"""Structured logging: one JSON object per line, on stderr.

Only what the code passes explicitly (`extra={"fields": {...}}`) is written;
no request body and no patient value is ever passed to a logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.request_records import RequestRecord


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-28T08:47:13.561+00:00
    (the date part is formatted once a second)."""
    second = int(now)
    return f"{_utc_second(second)}.{int((now - second) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each record (so a
    redirected or captured stderr gets the lines)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class RequestLog:
    """The one JSON line per request, written without the logging machinery:
    a LogRecord, a handler and a formatter cost more than the prediction.
    Same shape as `JsonFormatter`'s lines; honours the `app.requests` level.

    Lines are formatted and written in batches (`write`, called by
    `app.request_records`): a write to stderr per request cost about 35 us
    here, and formatting a line on the request path 9 us against 2 us in a
    loop. Each write is below `MAX_BYTES`, under PIPE_BUF (4096), so that
    writes to a pipe shared by several workers stay atomic and lines never
    interleave.

    The line is formatted directly. Every value is either ours (route
    template, status, latency, the model version, JSON-quoted once) or was
    checked (the request id matches [A-Za-z0-9._:-]; an unusual method is
    JSON-quoted), so nothing from a client can break the line, and every
    line is ASCII (json.dumps escapes the rest).
    """

    METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    MAX_BYTES = 3584

    def __init__(self) -> None:
        self.logger = logging.getLogger("app.requests")
        self._fixed: dict[tuple[str, str, int, str | None], tuple[str, str]] = {}

    def write(self, records: list[RequestRecord]) -> None:
        """One line per record (see `app.request_records.RequestRecord`)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        chunk: list[str] = []
        size = 0
        for record in records:
            line = self._line(*record)
            if size + len(line) > self.MAX_BYTES:
                self._write(chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._write(chunk)

    @staticmethod
    def _write(lines: list[str]) -> None:
        if lines:
            sys.stderr.write("".join(lines))
            sys.stderr.flush()

    def _line(
        self,
        now: float,
        method: str,
        route: str,
        status: int,
        seconds: float,
        request_id: str,
        version: str | None,
    ) -> str:
        key = (method, route, status, version)
        fixed = self._fixed.get(key)
        if fixed is None:
            fixed = self._fixed_parts(*key)
            if method in self.METHODS and len(self._fixed) < 1000:  # bounded
                self._fixed[key] = fixed
        head, tail = fixed
        return (
            f'{{"time": "{timestamp(now)}", {head}"latency_ms": {seconds * 1000:.3f}, '
            f'"request_id": "{request_id}", {tail}'
        )

    @staticmethod
    def _fixed_parts(method: str, route: str, status: int, version: str | None) -> tuple[str, str]:
        """The parts of a line that depend only on these four values."""
        head = (
            '"level": "info", "logger": "app.requests", "message": "request", '
            f'"method": {json.dumps(method)}, "route": {json.dumps(route)}, "status": {status}, '
        )
        return head, f'"model_version": {json.dumps(version)}}}\n'


request_log = RequestLog()
"""The process's one request log (written by `app.request_records`)."""


def configure(level: str) -> None:
    """Give the service's `app` logger a JSON handler (uvicorn configures only
    its own loggers; `python -m app` makes those JSON too)."""
    logger = logging.getLogger("app")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False


UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}
"""uvicorn's loggers as JSON; its access log is off (the app logs each request)."""
