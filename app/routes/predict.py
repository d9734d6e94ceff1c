"""POST /predict and POST /predict/batch."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError

from app.deps import PredictorDep, SettingsDep, require_json
from app.errors import responses
from app.metrics import PREDICTIONS
from app.schemas import BatchPrediction, BatchRequest, Patient, Prediction
from model.features import CLASS_LABELS, FEATURE_NAMES
from model.serving import THRESHOLD, Predictor

# The API key check is added by `create_app` when API_KEY is set, so that the
# OpenAPI document declares security exactly when it is enforced.
router = APIRouter(tags=["predictions"], dependencies=[Depends(require_json)])


def _predict(predictor: Predictor, patients: list[Patient]) -> list[Prediction]:  # type: ignore[valid-type]
    X = np.array(
        [[getattr(p, name) for name in FEATURE_NAMES] for p in patients], dtype=np.float64
    )  # (n, 13)
    probabilities = predictor.predict_proba(X).tolist()
    version = predictor.version
    n_presence = sum(p >= THRESHOLD for p in probabilities)
    PREDICTIONS.labels(CLASS_LABELS[1]).inc(n_presence)
    PREDICTIONS.labels(CLASS_LABELS[0]).inc(len(probabilities) - n_presence)
    return [
        Prediction(
            probability=p,
            class_=int(p >= THRESHOLD),
            label=CLASS_LABELS[int(p >= THRESHOLD)],
            model_version=version,
        )
        for p in probabilities
    ]


@router.post(
    "/predict",
    response_model=Prediction,
    responses=responses(400, 401, 413, 415, 422, 503),
    summary="Estimate one patient's probability of heart disease",
)
async def predict(patient: Patient, predictor: PredictorDep) -> Prediction:  # type: ignore[valid-type]
    return _predict(predictor, [patient])[0]


@router.post(
    "/predict/batch",
    response_model=BatchPrediction,
    responses=responses(400, 401, 413, 415, 422, 503),
    summary="Estimate the probability of heart disease for several patients",
)
async def predict_batch(
    batch: BatchRequest, predictor: PredictorDep, settings: SettingsDep
) -> BatchPrediction:
    if len(batch.patients) > settings.max_batch:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "patients"),
                    "msg": f"A batch holds at most {settings.max_batch} patients "
                    f"(MAX_BATCH), got {len(batch.patients)}",
                }
            ]
        )
    return BatchPrediction(predictions=_predict(predictor, batch.patients))
