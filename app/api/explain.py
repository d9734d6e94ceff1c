"""POST /explain and POST /explain/batch: a prediction and why.

An exact explanation takes milliseconds of NumPy per patient, so it runs in
a worker thread, not on the event loop (which keeps answering /predict and
/health meanwhile); at most `EXPLAIN_THREADS` run at once, since each holds
a few tens of MB of coalition values, and at most `EXPLAIN_BACKLOG` patients
wait (`app.guards.admission`): beyond that, 503 `overloaded` with Retry-After, at
once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from fastapi import Request, Response

from app.api import answers
from app.api.answer_models import Explanation, ExplanationBatch
from app.api.schemas import BatchRequest, Patient
from app.api.scoring import ScoringRoute, answered, json_response, thread_limiter
from app.errors import EXPLANATIONS_FULL, RETRY_AFTER, ApiError
from app.guards.admission import EXPLAIN_MAX_WAIT, EXPLAIN_THREADS, EXPLANATIONS
from app.policy import Caller, Policy, declare

T = TypeVar("T")


def _backlog_full() -> ApiError:
    return ApiError(EXPLANATIONS_FULL, headers={"Retry-After": RETRY_AFTER})


@declare(Policy(Caller.SCORE, recorded=True, heavy=True))
async def explain(request: Request) -> Response:
    array, recorded = await answered(request, Patient, _explained)
    await recorded
    return json_response(answers.alone(array))


@declare(Policy(Caller.SCORE, recorded=True, heavy=True))
async def explain_batch(request: Request) -> Response:
    most = request.app.state.settings.max_explain_batch
    array, recorded = await answered(request, BatchRequest, _explained, most, "MAX_EXPLAIN_BATCH")
    await recorded
    return json_response(f'{{"explanations":{array}}}')


async def _explained(request: Request, predictor: Any, patients: list[Any]) -> str:
    return await in_explain_thread(
        request, len(patients), partial(answers.explanations, predictor, patients)
    )


async def in_explain_thread(request: Request, patients: int, work: Callable[[], T]) -> T:
    """`work()` (explaining `patients` patients) run in a worker thread, or
    503 `overloaded`: at once when the explanation backlog is full
    (`app.guards.admission`; the door refuses most such requests before they
    get here), or when no thread comes free within EXPLAIN_MAX_WAIT: such a
    request is late already, and a 503 now keeps it from being later still. The CDS Hooks
    card (`app.clinical`) is explained here too."""
    threads = thread_limiter(request.app.state, "explain_limiter", EXPLAIN_THREADS)
    if EXPLANATIONS.full(patients):
        raise _backlog_full()
    EXPLANATIONS.pending += patients
    try:
        got_thread = False
        with anyio.move_on_after(EXPLAIN_MAX_WAIT):
            await threads.acquire()
            got_thread = True
        if not got_thread:
            raise _backlog_full()
        try:
            return await anyio.to_thread.run_sync(work)
        finally:
            threads.release()
    finally:
        EXPLANATIONS.pending -= patients


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
