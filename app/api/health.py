"""Operations: GET /health (alive), GET /ready (can answer correctly)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.policy import OPERATIONS, declare


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    detail: str | None = None


router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
@declare(OPERATIONS)
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready to serve predictions."}},
    summary="Readiness: the model is loaded and passed its self-test, and the record keeps up",
)
@declare(OPERATIONS)
async def ready(request: Request) -> Readiness | JSONResponse:
    problem = request.app.state.readiness_problem  # set by create_app and its lifespan
    problem = problem or request.app.state.recorder.problem()  # a spool waiting too long
    if problem is not None:
        body = Readiness(status="not ready", detail=problem)
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ready")
