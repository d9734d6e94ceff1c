"""GET /model: what model is answering, on what features, and how good it is."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.api.answer_models import FeatureInfo, ModelInfo
from app.deps import PredictorDep
from app.errors import responses
from app.policy import PUBLIC, declare
from model.features import CLASS_LABELS, FEATURES, THRESHOLD

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
