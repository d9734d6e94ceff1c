"""POST /predict and POST /predict/batch."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np
from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from app.deps import PredictorDep, SettingsDep
from app.errors import responses
from app.metrics import count_predictions
from app.schemas import BatchPrediction, BatchRequest, Patient, Prediction
from model.features import CLASS_LABELS, FEATURE_NAMES
from model.serving import THRESHOLD, Predictor

if tuple(Patient.model_fields) != FEATURE_NAMES:  # the order _predictions_json relies on
    raise RuntimeError("Patient's fields must be FEATURE_NAMES, in order")

# The API key check is added by `create_app` when API_KEY is set, so that the
# OpenAPI document declares security exactly when it is enforced.
router = APIRouter(tags=["predictions"])


def _predictions_json(predictor: Predictor, patients: list[Any]) -> list[str]:
    """Score the patients and return each answer as a JSON object, in order.

    The answers are written as JSON text directly: `Prediction` documents
    their shape, but building and re-validating a model per answer would
    cost more than the prediction itself. `repr` of a float is valid JSON
    (the probability is always finite).
    """
    # A validated Patient holds exactly its fields, in FEATURE_NAMES order
    # (checked when this module is imported): __dict__ beats 13 getattr calls.
    X = np.array([list(p.__dict__.values()) for p in patients], dtype=np.float64)  # (n, 13)
    probabilities = predictor.predict_proba(X).tolist()
    classes = [int(p >= THRESHOLD) for p in probabilities]
    n_presence = sum(classes)
    count_predictions(n_presence, len(classes) - n_presence)
    tails = _answer_tails(predictor.version)
    return [
        f'{{"probability":{p!r},{tails[c]}}}' for p, c in zip(probabilities, classes, strict=True)
    ]


@cache
def _answer_tails(version: str) -> tuple[str, str]:
    """What follows the probability in an answer of class 0 and of class 1."""
    quoted = json.dumps(version)
    return tuple(  # type: ignore[return-value]
        f'"class":{c},"label":"{CLASS_LABELS[c]}","model_version":{quoted}' for c in (0, 1)
    )


def _json(text: str) -> Response:
    return Response(content=text.encode(), media_type="application/json")


@router.post(
    "/predict",
    response_model=Prediction,
    responses=responses(400, 401, 413, 415, 422, 503),
    summary="Estimate one patient's probability of heart disease",
)
async def predict(patient: Patient, predictor: PredictorDep) -> Response:  # type: ignore[valid-type]
    return _json(_predictions_json(predictor, [patient])[0])


@router.post(
    "/predict/batch",
    response_model=BatchPrediction,
    responses=responses(400, 401, 413, 415, 422, 503),
    summary="Estimate the probability of heart disease for several patients",
)
async def predict_batch(
    batch: BatchRequest, predictor: PredictorDep, settings: SettingsDep
) -> Response:
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
    return _json('{"predictions":[' + ",".join(_predictions_json(predictor, batch.patients)) + "]}")
