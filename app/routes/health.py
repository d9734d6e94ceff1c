"""Operations: GET /health (alive), GET /ready (can answer correctly), GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from app.metrics import render
from app.request_records import request_records
from app.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready to serve predictions."}},
    summary="Readiness: the model is loaded and passed its self-test",
)
async def ready(request: Request) -> Readiness | JSONResponse:
    problem = request.app.state.readiness_problem  # set by create_app and its lifespan
    if problem is not None:
        body = Readiness(status="not ready", detail=problem)
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition."}},
    summary="Prometheus metrics of every worker",
)
async def metrics() -> Response:
    request_records.flush()  # count every request this worker has answered
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
