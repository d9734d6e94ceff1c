"""POST /predict and POST /predict/batch: probability, class, interval, warnings."""

from __future__ import annotations

from functools import partial

from fastapi import Request, Response

from app.api import answers
from app.api.answer_models import BatchPrediction, Prediction
from app.api.recording import record_answers
from app.api.schemas import BatchRequest, Patient, rows
from app.api.scoring import ScoringRoute, json_response, read_body, scored
from app.deps import get_predictor
from app.policy import Caller, Policy, declare


@declare(Policy(Caller.SCORE, recorded=True))
async def predict(request: Request) -> Response:
    predictor = await get_predictor(request)  # called, not declared: no dependency solving
    patient = await read_body(request, Patient)
    inputs = rows([patient])
    work = partial(answers.predictions, predictor, inputs)
    answer = await scored(request.app.state, inputs, work)
    await record_answers(request, predictor, inputs, answer, await request.body())
    return json_response(answer[0])


@declare(Policy(Caller.SCORE, recorded=True, heavy=True))
async def predict_batch(request: Request) -> Response:
    predictor = await get_predictor(request)
    most = request.app.state.settings.max_batch
    batch = await read_body(request, BatchRequest, most, "MAX_BATCH")
    inputs = rows(batch.patients)
    work = partial(answers.predictions, predictor, inputs)
    answered = await scored(request.app.state, inputs, work)
    await record_answers(request, predictor, inputs, answered, await request.body())
    listed = ",".join(answered)
    return json_response(f'{{"predictions":[{listed}]}}')


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
