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
from typing import Any


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

    The line is formatted directly. Every value is either ours (route
    template, status, latency, the model version, JSON-quoted once) or was
    checked (the request id matches [A-Za-z0-9._:-]; an unusual method is
    JSON-quoted), so nothing from a client can break the line.

    Lines are written in small batches: a write to stderr per request cost
    about 35 us on these machines, an eighth of a request. A batch is written
    at most `MAX_DELAY` seconds after its oldest line, and before it passes
    `MAX_BYTES`, below PIPE_BUF (4096), so that each write to a pipe shared by
    several workers stays atomic and lines never interleave. The app's
    lifespan calls `flush` every `MAX_DELAY` seconds and at shutdown, so an
    idle server's lines are not held back; a crash loses at most that much.
    """

    METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    MAX_BYTES = 3584
    MAX_DELAY = 0.2

    def __init__(self) -> None:
        self.logger = logging.getLogger("app.requests")
        self._versions: dict[str, str] = {}
        self._pending: list[str] = []
        self._size = 0
        self._oldest = 0.0

    def flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending, self._size = [], 0
            sys.stderr.write(text)
            sys.stderr.flush()

    def __call__(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        request_id: str,
        predictor: Any,
    ) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        now = time.time()
        version: str | None = getattr(predictor, "version", None)
        quoted = "null" if version is None else self._versions.get(version)
        if quoted is None:
            quoted = self._versions.setdefault(str(version), json.dumps(version))
        method_json = f'"{method}"' if method in self.METHODS else json.dumps(method)
        line = (
            f'{{"time": "{timestamp(now)}", '
            f'"level": "info", "logger": "app.requests", "message": "request", '
            f'"method": {method_json}, "route": {json.dumps(route)}, "status": {status}, '
            f'"latency_ms": {seconds * 1000:.3f}, "request_id": "{request_id}", '
            f'"model_version": {quoted}}}\n'
        )
        if self._size + len(line) > self.MAX_BYTES:
            self.flush()
        if not self._pending:
            self._oldest = now
        self._pending.append(line)
        self._size += len(line)
        if now - self._oldest >= self.MAX_DELAY:
            self.flush()


request_log = RequestLog()
"""The process's one request log (used by `app.middleware.RequestContext`)."""


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
