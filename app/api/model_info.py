"""GET /model: what model is answering, on what features, and how good it is."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import PredictorDep
from app.errors import responses
from app.policy import PUBLIC, declare
from model.features import CLASS_LABELS, FEATURES, THRESHOLD


class FeatureInfo(BaseModel):
    name: str
    description: str
    unit: str | None
    minimum: float | None
    maximum: float | None
    integer: bool
    codes: dict[int, str] | None


class ModelInfo(BaseModel):
    model_version: str
    artifact_sha256: str
    trained_at: str | None
    threshold: float
    class_labels: list[str] = Field(examples=[list(CLASS_LABELS)])
    features: list[FeatureInfo]
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any] = Field(
        description="Held-out (and, if recorded, cross-validated) metrics."
    )
    data: dict[str, Any]
    ensemble: dict[str, Any] = Field(
        description="The bootstrap ensemble behind the interval: size, level, held-out "
        "coverage and mean width."
    )
    background: dict[str, Any] = Field(
        description="The Shapley background: size, how it was drawn, how much the "
        "contributions move when it is drawn again."
    )
    warnings: dict[str, Any] = Field(
        description="The atypical_patient threshold and the measured share of patients it "
        "flags (out-of-fold and on the training rows)."
    )
    recalibration: dict[str, Any] | None = Field(
        default=None,
        description="When a site recalibrated the model (`python -m scripts.recalibrate`): its "
        "patients (n, prevalence), the fitted intercept and slope on the log-odds, the data's "
        "SHA-256, when, and the model version it recalibrated.",
    )


router = APIRouter(tags=["model"])


@router.get(
    "/model",
    response_model=ModelInfo,
    responses=responses(503),
    summary="Version, artifact hash, features and metrics of the loaded model",
)
@declare(PUBLIC)
async def model_info(predictor: PredictorDep) -> ModelInfo:
    meta = predictor.metadata
    return ModelInfo(
        model_version=predictor.version,
        artifact_sha256=predictor.artifact.sha256,
        trained_at=meta.get("trained_at"),
        threshold=THRESHOLD,
        class_labels=list(CLASS_LABELS),
        features=[
            FeatureInfo(**{k: v for k, v in asdict(f).items() if k != "example"}) for f in FEATURES
        ],
        hyperparameters=meta.get("hyperparameters", {}),
        metrics=meta.get("metrics", {}),
        data=meta.get("data", {}),
        ensemble=meta.get("ensemble", {}),
        background=meta.get("background", {}),
        warnings=meta.get("typicality", {}),
        recalibration=meta.get("recalibration"),
    )
