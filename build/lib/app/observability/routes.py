"""Operations: GET /metrics, the Prometheus exposition of every worker."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.observability.metrics import render
from app.policy import OPERATIONS, declare

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition."}},
    summary="Prometheus metrics of every worker",
)
@declare(OPERATIONS)
async def metrics(request: Request) -> Response:
    request.app.state.telemetry.flush()  # count every request this worker has answered
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
