"""The CDS Hooks 2.0 routes: discovery, the `heart-disease-risk` service
(patient-view) and its feedback.

A call is answered from its prefetch; keys it did not send are read from its
`fhirServer` (`app.clinical.fhir_reads`), and without them the answer is 412
naming the keys. The inputs are read from the FHIR resources
(`app.clinical.fhir_inputs`), explained in a worker thread like /explain,
and answered as one card (`app.clinical.card`). With CDS_CLIENTS_FILE set,
every call needs the EHR's signed JWT (`app.clinical.cds_clients`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from app.api.explain import in_explain_thread
from app.api.recording import in_store, record_answers
from app.api.scoring import declare_request_models, request_body
from app.clinical import fhir_routes, prefetch
from app.clinical.card import card
from app.clinical.cds_clients import CdsClients, RefusedError
from app.clinical.cds_models import (
    CdsRequest,
    CdsResponse,
    Discovery,
    FeedbackReceived,
    FeedbackRequest,
)
from app.clinical.fhir_inputs import inputs, other_patient
from app.clinical.fhir_reads import FhirReader, FhirServerError
from app.config import Settings
from app.deps import get_predictor
from app.errors import (
    CDS_UNAUTHORIZED,
    INVALID_CDS_REQUEST,
    INVALID_JSON,
    NOT_FOUND,
    NOT_JSON,
    PREFETCH_UNAVAILABLE,
    ApiError,
    ErrorResponse,
)
from app.observability.metrics import CDS_FEEDBACK
from app.policy import Caller, Policy, declare

log = logging.getLogger("app")

SERVICE_ID = "heart-disease-risk"
TAG = "CDS Hooks"
M = TypeVar("M", bound=BaseModel)

router = APIRouter(tags=[TAG])
EHR = Policy(Caller.EHR)
ServiceId = Annotated[
    str, Path(description="The CDS service's id (this server has one).", examples=[SERVICE_ID])
]


def _errors(*problems: Any) -> dict[int | str, dict[str, Any]]:
    return {p.status: {"model": ErrorResponse, "description": p.message} for p in problems}


def public_url(request: Request, path: str) -> str:
    """`path` on this service as its clients call it (PUBLIC_BASE_URL when set)."""
    base = request.app.state.settings.public_base_url
    if base is None:
        base = f"{request.url.scheme}://{request.url.netloc}"
    return f"{base.rstrip('/')}{path}"


async def authorized(request: Request) -> None:
    """The caller check of the CDS Hooks routes (`Caller.EHR`, handed to
    `app.policy.enforce`): with CDS_CLIENTS_FILE set, a valid JWT from a listed EHR
    (the issuer goes to the request's log line); without it, unsigned calls
    only while no API key is set (local development), else 401. The reason
    of a refusal goes to the log only."""
    clients: CdsClients = request.app.state.cds_clients
    if not clients.enabled:
        if request.app.state.api_keys.enabled:
            log.warning("CDS Hooks call to %s refused: API keys are set and CDS_CLIENTS_FILE "
                        "is not, so no EHR is trusted", request.url.path)  # fmt: skip
            raise ApiError(CDS_UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        return
    audience = public_url(request, request.url.path)
    try:
        issuer = await clients.verify(request.headers.get("authorization"), audience)
    except RefusedError as exc:
        log.warning("CDS Hooks call to %s refused: %s", request.url.path, exc)
        raise ApiError(CDS_UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}) from None
    request.scope.setdefault("state", {})["cds_issuer"] = issuer  # read by RequestContext


async def _admitted(request: Request, service_id: str, model: type[M]) -> M:
    """The body of a call to service `service_id` as `model`: 404 for another
    service, 400 naming every field that is wrong (the caller was checked
    before, by the route's policy)."""
    if service_id != SERVICE_ID:
        raise ApiError(NOT_FOUND, f"No CDS service {service_id!r}; this server has {SERVICE_ID!r}.")
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise ApiError(INVALID_JSON) from None
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or None, "message": e["msg"],
             "type": e["type"]}
            for e in errors
        ]  # fmt: skip
        raise ApiError(INVALID_CDS_REQUEST, details=details) from None


@router.get(
    "/cds-services",
    response_model=Discovery,
    responses=_errors(CDS_UNAUTHORIZED),
    summary="CDS Hooks discovery: the heart-disease-risk service and its prefetch",
)
@declare(EHR)
async def discovery(request: Request) -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": "patient-view",
                "title": "Heart-disease risk",
                "description": "The probability of heart disease from 13 routine measurements, "
                "with its interval, the largest contributions, and what measuring each "
                "missing input could change. Research use only.",
                "id": SERVICE_ID,
                "prefetch": prefetch.templates(),
                "usageRequirements": "Inputs not prefetched are read from fhirServer with "
                "fhirAuthorization; without either, the call is answered 412.",
            }
        ]
    }


CALL_PATH = "/cds-services/{service_id}"


@router.post(
    CALL_PATH,
    response_model=CdsResponse,
    responses=_errors(
        INVALID_CDS_REQUEST, CDS_UNAUTHORIZED, NOT_FOUND, PREFETCH_UNAVAILABLE, NOT_JSON
    ),
    summary="CDS Hooks patient-view call: one card with the patient's heart-disease risk",
    openapi_extra=request_body(CdsRequest),
)
@declare(Policy(Caller.EHR, recorded=True, heavy=True))
async def call(service_id: ServiceId, request: Request) -> Response:
    hook = await _admitted(request, service_id, CdsRequest)
    predictor = await get_predictor(request)
    patient_id = hook.context.patientId
    given = dict(hook.prefetch or {})
    try:
        _, _, absent = prefetch.read(given)
        if absent:
            given |= await _read_from_server(request, hook, absent)
        patient, observations, _ = prefetch.read(given)
    except prefetch.PrefetchError as exc:
        raise ApiError(INVALID_CDS_REQUEST, str(exc)) from None
    problem = other_patient(patient_id, patient, observations)
    if problem is not None:
        raise ApiError(INVALID_CDS_REQUEST, problem)
    now = datetime.now(UTC)
    readings = inputs(patient, observations, now.date())
    row = [r.value for r in readings]
    explained = await in_explain_thread(request, 1, lambda: predictor.explain([row])[0])
    url = public_url(request, "/model")
    page = public_url(request, "/smart/launch") if request.app.state.smart_clients.enabled else None
    answer = json.dumps(
        {"cards": [card(patient_id, readings, explained, predictor.version, url, now, page)]}
    )
    await record_answers(request, predictor, [row], answer)
    return Response(answer, media_type="application/json")


async def _read_from_server(request: Request, hook: CdsRequest, keys: list[str]) -> dict[str, Any]:
    """The keys not sent, read from the EHR's FHIR server, or 412 naming
    them: also when the server is not one the caller may name
    (`CdsClients.fhir_server_refusal`; the reason goes to the log)."""
    if hook.fhirServer is None:
        why = "not in the prefetch, and the call names no fhirServer to read it from"
        raise ApiError(PREFETCH_UNAVAILABLE, details=_missing(keys, why))
    server = str(hook.fhirServer)
    issuer = request.scope.get("state", {}).get("cds_issuer")
    refusal = request.app.state.cds_clients.fhir_server_refusal(issuer, server)
    if refusal is not None:  # not fetched at all, and the token goes nowhere
        log.warning("CDS Hooks call names a FHIR server that is not read: %s", refusal)
        raise ApiError(PREFETCH_UNAVAILABLE, details=_missing(keys, f"{server} is not allowed"))
    token = hook.fhirAuthorization.access_token if hook.fhirAuthorization else None
    reader = request.app.state.fhir_reader
    try:
        return await reader.read(server, token, hook.context.patientId, keys)  # type: ignore[no-any-return]
    except FhirServerError as exc:
        log.warning("CDS Hooks prefetch from the FHIR server failed: %s", exc)
        raise ApiError(PREFETCH_UNAVAILABLE, details=_missing(exc.keys, str(exc))) from None


def _missing(keys: list[str], why: str) -> list[dict[str, Any]]:
    return [{"field": f"prefetch.{k}", "message": why, "type": "prefetch_missing"} for k in keys]


@router.post(
    "/cds-services/{service_id}/feedback",
    response_model=FeedbackReceived,
    responses=_errors(INVALID_CDS_REQUEST, CDS_UNAUTHORIZED, NOT_FOUND, NOT_JSON),
    summary="CDS Hooks feedback: what the clinician did with a card",
    openapi_extra=request_body(FeedbackRequest),
)
@declare(EHR)
async def feedback(service_id: ServiceId, request: Request) -> FeedbackReceived:
    received = await _admitted(request, service_id, FeedbackRequest)
    store = request.app.state.recorder.store  # None with AUDIT=off
    if store is not None:  # kept beside the record, whose row holds the card
        items = [(f.card, f.outcome, f.model_dump_json(exclude_none=True),
                  f.outcomeTimestamp.timestamp()) for f in received.feedback]  # fmt: skip
        issuer = request.scope.get("state", {}).get("cds_issuer")
        await in_store(store.add_feedback, items, issuer)
    for item in received.feedback:
        CDS_FEEDBACK.labels(item.outcome).inc()
        log.info("CDS Hooks feedback: card %s %s", item.card, item.outcome)
    return FeedbackReceived(received=len(received.feedback))


def install(app: FastAPI, settings: Settings) -> CdsClients:
    """Add the CDS Hooks and FHIR routes, the CDS clients (loaded in the
    lifespan) and the FHIR reader (closed with the app) to `app`."""
    app.state.cds_clients = clients = CdsClients(settings.cds_clients_file)
    app.state.fhir_reader = FhirReader(settings.fhir_timeout)
    app.include_router(router)
    app.include_router(fhir_routes.router)
    declare_request_models(app, (CdsRequest, FeedbackRequest))
    return clients


JSON_PATHS = frozenset({f"/cds-services/{SERVICE_ID}", f"/cds-services/{SERVICE_ID}/feedback"})
"""Where a body not declared as JSON gets 415 (`app.guards.middleware.JsonBodyGuard`)."""
