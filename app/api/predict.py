"""POST /predict and POST /predict/batch: probability, class, interval, warnings."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import Request, Response

from app.api import answers
from app.api.answer_models import BatchPrediction, Prediction
from app.api.schemas import BatchRequest, Patient
from app.api.scoring import ScoringRoute, answered, json_response, scored
from app.policy import Caller, Policy, declare
from model.serving import Predictor


@declare(Policy(Caller.SCORE, recorded=True))
async def predict(request: Request) -> Response:
    array, recorded = await answered(request, Patient, _predictions)
    await recorded
    return json_response(answers.alone(array))


@declare(Policy(Caller.SCORE, recorded=True, heavy=True))
async def predict_batch(request: Request) -> Response:
    most = request.app.state.settings.max_batch
    array, recorded = await answered(request, BatchRequest, _predictions, most, "MAX_BATCH")
    await recorded
    return json_response(f'{{"predictions":{array}}}')


async def _predictions(request: Request, predictor: Predictor, inputs: list[Any]) -> str:
    work = partial(answers.predictions, predictor, inputs)
    return await scored(request.app.state, inputs, work)


ROUTES = (
    ScoringRoute(
        "/predict",
        predict,
        Patient,
        Prediction,
        "Estimate one patient's probability of heart disease",
        "predictions",
    ),
    ScoringRoute(
        "/predict/batch",
        predict_batch,
        BatchRequest,
        BatchPrediction,
        "Estimate the probability of heart disease for several patients",
        "predictions",
    ),
)
