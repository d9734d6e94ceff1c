"""Structured logging: one JSON object per line, on stderr.

Only what the code passes explicitly (`extra={"fields": {...}}`) is written;
no request body and no patient value is ever passed to a logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from app.observability.events import RequestEvent


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-28T08:47:13.561+00:00
    (the date part is formatted once a second)."""
    second = int(now)
    return f"{_utc_second(second)}.{int((now - second) * 1000):03d}+00:00"


def json_line(now: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """The one format of every log line the service writes: a JSON object
    with time, level, logger and message, then `fields`, and a newline.
    ASCII only (json.dumps escapes the rest), so nothing a client sent can
    break a line."""
    entry = {"time": timestamp(now), "level": level, "logger": logger, "message": message}
    entry.update(fields)
    return json.dumps(entry, default=str) + "\n"


class JsonFormatter(logging.Formatter):
    """`json_line` for the logging machinery (the service's and uvicorn's own lines)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception"] = record.exc_info[0].__name__
        line = json_line(
            record.created, record.levelname.lower(), record.name, record.getMessage(), fields
        )
        return line[:-1]  # the handler adds the newline


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


REQUEST_LOGGER = logging.getLogger("app.requests")
MAX_WRITE_BYTES = 3584
"""Below PIPE_BUF (4096): writes to a pipe shared by several workers stay
atomic, so their lines never interleave."""


def write_request_lines(events: Iterable[RequestEvent]) -> None:
    """One `json_line` per answered request, written to stderr in a few
    large writes rather than one per line (app/observability/telemetry.py calls this in
    batches). The `app.requests` logger's level decides whether lines are
    written, but a LogRecord, a handler and a formatter per request are
    skipped: they cost more than the prediction (docs/performance.md)."""
    if not REQUEST_LOGGER.isEnabledFor(logging.INFO):
        return
    chunk: list[str] = []
    size = 0
    for r in events:
        line = json_line(
            r.time,
            "info",
            "app.requests",
            "request",
            {
                "method": r.method,
                "route": r.route,
                "status": r.status,
                "latency_ms": round(r.seconds * 1000, 3),
                "request_id": r.request_id,
                "model_version": r.model_version,
                "api_key_name": r.api_key_name,
                "cds_issuer": r.cds_issuer,
            },
        )
        if size + len(line) > MAX_WRITE_BYTES:
            _write(chunk)
            chunk, size = [], 0
        chunk.append(line)
        size += len(line)
    _write(chunk)


def _write(lines: list[str]) -> None:
    if lines:
        sys.stderr.write("".join(lines))
        sys.stderr.flush()


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
