"""Builds the FastAPI app: settings, model loading in the lifespan, routes.

Run it with `make serve`, or `uvicorn app.main:app`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from app import heap
from app.api import audit, docs, explain, handlers, health, model_info, predict, scoring
from app.api.recording import inputs_kept
from app.clinical import cds_routes
from app.clinical.cds_clients import ClientsFileError
from app.config import Settings, get_settings
from app.guards.middleware import (
    ConcurrencyLimit,
    InFlight,
    JsonBodyGuard,
    OneLineStartupFailure,
    RequestContext,
    TrailingSlash,
)
from app.keys import ApiKeys, KeyFileError
from app.observability import logs
from app.observability import routes as metrics
from app.observability.telemetry import Telemetry
from app.page import routes as page
from app.policy import Rules, enforce, open_to_anyone
from app.record.backends import default_spool, store_for
from app.record.monitor import Monitor
from app.record.recorder import Recorder
from app.record.store import StoreError
from app.reload import Reloader, load_checked, put_in_service
from app.v2 import routes as v2
from model.artifact import ArtifactError
from model.serving import Predictor

log = logging.getLogger("app")

DESCRIPTION = """
Estimates the probability of heart disease from 13 routine clinical
measurements, with a small neural network trained on the UCI Statlog (Heart)
data set (270 patients).

**Not a diagnostic device.** It is a statistical estimate from a small,
single-source data set, meant to support research and demonstrations; it must
not be used to make clinical decisions.

**Which API for what:** `/predict` and `/explain` for applications (one JSON
object per patient, `null` for a value not measured); the Open Inference
Protocol (`/v2`) for KServe and Triton clients; CDS Hooks for an EHR's
patient-view; `$assess` for a FHIR Bundle of a Patient and Observations; the
record's routes for audits and monitoring. Clinicians use the risk page,
`/app`, launched from the EHR.
"""

TAGS = [
    {"name": "predictions", "description": "For applications: a patient's probability, class, "
     "interval and warnings, one at a time or in batches."},
    {"name": "explanations", "description": "For applications that show why: the prediction "
     "with each measured input's exact Shapley contribution."},
    {"name": "open inference protocol (v2)", "description": "For KServe and Triton clients "
     "(tritonclient, KServe's SDK): the same model as an Open Inference Protocol V2 server."},
    {"name": "CDS Hooks", "description": "For EHRs: CDS Hooks 2.0 discovery, the patient-view "
     "call answered with one card, and its feedback."},
    {"name": "FHIR", "description": "For FHIR systems: a RiskAssessment for a Bundle of a "
     "Patient and their Observations, and the CodeSystem of the inputs no LOINC code names."},
    {"name": "model", "description": "For anyone checking what answers: the model in service, "
     "its version, artifact hash, features and measured performance."},
    {"name": "record", "description": "For auditors and monitoring (an `audit` key): every "
     "answer kept, outcomes linked to answers, and drift over the latest answers."},
    {"name": "operations", "description": "For orchestrators and Prometheus: liveness, "
     "readiness and metrics; never shed."},
]  # fmt: skip
"""The OpenAPI tags: which API is for whom."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.readiness_problem = "the model is loading"
        try:
            for source in (keys, cds_clients, smart_clients):  # files the reloader watches
                source.load()
            predictor, problem = load_checked(settings.model_path)
            recorder.open()  # last: nothing left open when a start fails
        except (ArtifactError, KeyFileError, ClientsFileError, StoreError) as exc:
            app.state.startup_error = str(exc)  # reported by OneLineStartupFailure
            raise
        _serve_if_sound(app.state, predictor, problem, settings.model_path)
        _say_what_is_open(app, keys.enabled, cds_clients.enabled, smart_clients.enabled)
        reloader = Reloader(app.state, settings.model_path, (keys, cds_clients, smart_clients))
        app.state.reloader = reloader
        reloader.install()
        for part in (telemetry, recorder, monitor):
            await part.start()
        heap.freeze()  # last: what start-up made lives as long as the app
        try:
            yield
        finally:  # also when the server is torn down by an error
            heap.thaw()
            for part in (monitor, recorder, telemetry):  # the order they started, reversed
                await part.stop()
            await app.state.fhir_reader.close()
            await app.state.smart.close()
            reloader.uninstall()
            app.state.predictor = None

    app = FastAPI(
        title="Heart-disease risk service",
        version=_package_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        telemetry=_fastapi_telemetry(),
        docs_url=None,  # served from local assets by app.api.docs
        redoc_url=None,
    )
    app.state.settings, app.state.telemetry = settings, (telemetry := Telemetry())
    recorder, monitor = _record(app, settings, in_flight := InFlight())
    app.state.predictor, app.state.readiness_problem = None, "the model is not loaded"
    handlers.install(app)
    app.state.api_keys = keys = ApiKeys(settings.api_key, settings.api_keys_file)
    scoring_routes = (*predict.ROUTES, *explain.ROUTES)
    scoring.install(app, scoring_routes)
    v2.install(app)
    cds_clients = cds_routes.install(app, settings)
    smart_clients = page.install(app, settings)
    for router in (health.router, metrics.router, model_info.router, audit.router):
        app.include_router(router)
    docs.install(app)  # with FastAPI's own route: the OpenAPI document
    rules = enforce(app, cds_routes.authorized, page.authorized)  # last: every route is there
    _add_middleware(app, settings, telemetry, scoring_routes, rules, in_flight)
    logs.configure(settings.log_level)
    return app


def _fastapi_telemetry() -> TelemetryConfig | None:
    """FastAPI's own OpenTelemetry: FastAPI's defaults when the operator asks
    for it (FASTAPI_OTEL_AUTO_CONFIGURE=true, FastAPI's switch, which needs
    the OpenTelemetry SDK installed), else off, since the service's metrics
    and logs are its own and FastAPI's look for a tracer, meter and logger
    provider costs every request (docs/performance.md)."""
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def _record(app: FastAPI, settings: Settings, in_flight: InFlight) -> tuple[Recorder, Monitor]:
    """The record (off with AUDIT=off; its group commit counts the requests
    `in_flight`) and the monitoring of what it holds, which compares the
    answers' inputs with the training rows of the model in service."""

    def training_rows() -> Any:
        predictor = app.state.predictor
        return predictor.artifact.donors if predictor is not None else None

    store = store_for(settings.audit_dsn) if settings.audit == "on" else None
    spool = (settings.audit_spool or default_spool(store)) if store is not None else None
    recorder = Recorder(
        store,
        spool,
        strict=settings.audit_mode == "strict",
        queue_rows=settings.audit_queue_rows,
        spool_max_age=settings.audit_spool_max_age,
        queue_bytes=settings.audit_queue_bytes,
        in_flight=lambda: in_flight.count,
    )
    app.state.recorder = recorder
    app.state.kept_inputs = inputs_kept(settings)  # full, or a keyed HMAC (AUDIT_INPUTS)
    window, interval = settings.monitor_window, settings.monitor_interval
    app.state.monitor = monitor = Monitor(store, window, interval, training_rows)
    return recorder, monitor


def _serve_if_sound(state: Any, predictor: Predictor, problem: str | None, path: Path) -> None:
    """Serve the model loaded at start-up, unless its self-test failed: a
    model that does not reproduce its own training-time answer must not
    answer patients (/predict says 503, /ready says why)."""
    if problem:
        state.readiness_problem = problem
        log.error("model %s failed its self-test: %s", predictor.version, problem)
    else:
        put_in_service(state, predictor)
        log.info("model %s loaded from %s", predictor.version, path)


def _say_what_is_open(app: FastAPI, keyed: bool, signed: bool, launched: bool) -> None:
    """One start-up line naming the route groups anyone may call, and a
    warning when scoring or CDS Hooks are among them."""
    log.info("open to anyone: %s", ", ".join(open_to_anyone(app, keyed, signed, launched)))
    if not keyed:
        log.warning(
            "no API key is set (API_KEY, API_KEYS_FILE): the scoring routes are open to anyone "
            "and the record's routes closed; for local development only"
        )


def _add_middleware(
    app: FastAPI,
    settings: Settings,
    telemetry: Telemetry,
    scoring_routes: Any,
    rules: Rules,
    in_flight: InFlight,
) -> None:
    # Added last = outermost: every answer, 413s included, is logged and counted.
    json_paths = frozenset(route.path for route in scoring_routes) | cds_routes.JSON_PATHS
    json_paths |= page.JSON_PATHS
    app.add_middleware(JsonBodyGuard, max_bytes=settings.max_body_bytes, json_paths=json_paths)
    limit = settings.max_concurrency
    app.add_middleware(ConcurrencyLimit, limit=limit, exempt=rules.never_shed, in_flight=in_flight)
    app.add_middleware(RequestContext, telemetry=telemetry)
    app.add_middleware(TrailingSlash)  # outside the rest: they all see the path without it
    app.add_middleware(OneLineStartupFailure)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("heart-risk-service")
    except PackageNotFoundError:
        return "0+unknown"


app = create_app()
