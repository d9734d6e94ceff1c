"""Prometheus metrics, correct with several uvicorn workers.

With more than one worker, `python -m app` sets PROMETHEUS_MULTIPROC_DIR
(to an empty directory) before the workers start; prometheus_client then
writes every worker's samples there, and `/metrics` merges them with its
MultiProcessCollector. With one worker and no such variable, the default
in-process registry is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.observability.events import RequestEvent

REQUESTS = Counter(
    "heart_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "heart_http_request_duration_seconds",
    "Time from request to the end of the response, by route template.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter(
    "heart_predictions_total",
    "Patients scored, by predicted class label.",
    ["label"],
)
CDS_FEEDBACK = Counter(
    "heart_cds_feedback_total",
    "CDS Hooks feedback on the service's cards, by outcome (accepted or overridden).",
    ["outcome"],
)
RECORD_ROWS = Counter(
    "heart_record_rows_total",
    "Rows of the record (one per request answered), by result: written, spooled, replayed, failed.",
    ["result"],
)
RECORD_FLUSH = Histogram(
    "heart_record_flush_seconds",
    "Time to make one group of rows durable (one transaction, one flush to disk).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
RECORD_SPOOL_AGE = Gauge(
    "heart_record_spool_age_seconds",
    "How long the oldest row in the record's spool has waited for the database (0: none).",
)
RECORD_QUEUE = Gauge(
    "heart_record_queue_rows",
    "Rows handed to the record and not yet durable (queued, or in the commit under way).",
)
RECORD_PENDING_AGE = Gauge(
    "heart_record_oldest_pending_seconds",
    "How long the oldest row not yet in the database has waited, in the queue or the spool.",
)
DRIFT_P = Gauge(
    "heart_monitor_drift_p_value",
    "Drift test p-value of each input over the monitoring window (KS or chi-squared).",
    ["feature"],
)
DRIFT_PSI = Gauge(
    "heart_monitor_psi",
    "Population stability index of each input over the monitoring window.",
    ["feature"],
)
WARNINGS = Counter(
    "heart_warnings_total",
    "Warnings given with answers (a patient unlike the training data), by code.",
    ["code"],
)
CONNECTION_EVENTS = Counter(
    "heart_connection_events_total",
    "What the connection guards did (request_timeout: a 408 and a close; shed: a 503 at "
    "the door; body_budget: a body refused, BODY_BUDGET_BYTES being held).",
    ["event"],
)
RELOADS = Counter(
    "heart_model_reloads_total",
    "Model reloads on SIGHUP, by outcome: loaded, or refused (the old model kept serving).",
    ["outcome"],
)
MODEL_INFO = Gauge(
    "heart_model_info",
    "The loaded model: always 1, with its version and artifact SHA-256 as labels.",
    ["version", "sha256"],
    multiprocess_mode="max",
)

_ABSENCE = PREDICTIONS.labels("absence")
_PRESENCE = PREDICTIONS.labels("presence")


def count_predictions(presence: int, absence: int) -> None:
    if presence:
        _PRESENCE.inc(presence)
    if absence:
        _ABSENCE.inc(absence)


def count_warnings(codes: Iterable[str]) -> None:
    for code in codes:
        WARNINGS.labels(code).inc()


def observe_requests(events: Iterable[RequestEvent]) -> None:
    """Count answered requests and their latency (label children cached:
    `labels()` costs more than `inc()`)."""
    for r in events:
        key = (r.route, r.method, r.status)
        children = _CHILDREN.get(key)
        if children is None:
            children = (
                REQUESTS.labels(r.route, r.method, str(r.status)),
                LATENCY.labels(r.route, r.method),
            )
            _CHILDREN[key] = children
        children[0].inc()
        children[1].observe(r.seconds)


_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def render() -> bytes:
    """The exposition text of every worker's metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
