"""POST /explain and POST /explain/batch: a prediction and why.

An exact explanation takes milliseconds of NumPy per patient, so it runs in
a worker thread, not on the event loop (which keeps answering /predict and
/health meanwhile); at most `EXPLAIN_THREADS` run at once, since each holds
a few tens of MB of coalition values.
"""

from __future__ import annotations

import anyio
from fastapi import Request, Response

from app import answers
from app.answer_models import Explanation, ExplanationBatch
from app.deps import get_predictor
from app.routes.scoring import ScoringRoute, json_response, read_body
from app.schemas import BatchRequest, Patient, rows

EXPLAIN_THREADS = 2


async def explain(request: Request) -> Response:
    predictor = await get_predictor(request)
    patient = await read_body(request, Patient)
    texts = await _in_thread(request, answers.explanations, predictor, rows([patient]))
    return json_response(texts[0])


async def explain_batch(request: Request) -> Response:
    predictor = await get_predictor(request)
    most = request.app.state.settings.max_explain_batch
    batch = await read_body(request, BatchRequest, most, "MAX_EXPLAIN_BATCH")
    texts = await _in_thread(request, answers.explanations, predictor, rows(batch.patients))
    return json_response(f'{{"explanations":[{",".join(texts)}]}}')


async def _in_thread(request: Request, fn: object, *args: object) -> list[str]:
    state = request.app.state
    limiter = getattr(state, "explain_limiter", None)
    if limiter is None:  # made on first use, inside the running event loop
        limiter = state.explain_limiter = anyio.CapacityLimiter(EXPLAIN_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)  # type: ignore[arg-type,no-any-return]


ROUTES = (
    ScoringRoute(
        "/explain",
        explain,
        Patient,
        Explanation,
        "Estimate one patient's probability and explain it feature by feature",
        "explanations",
    ),
    ScoringRoute(
        "/explain/batch",
        explain_batch,
        BatchRequest,
        ExplanationBatch,
        "Estimate and explain the probability for several patients",
        "explanations",
    ),
)
