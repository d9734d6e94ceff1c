"""Recording the answers of the scoring routes (/predict, /explain, their
batches, the CDS Hooks card) in `app.record`: one row per patient, with the
request id, the caller's name (API key or JWT issuer), the model, the
inputs and the answer as sent; the route waits until the rows are
durable, and answers 503 `record_unavailable` if they cannot be made so."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from fastapi import Request

from app.errors import RECORD_UNAVAILABLE, RETRY_AFTER, ApiError
from app.record.recorder import Recorder, RecordUnavailableError
from app.record.store import Row, uuid7
from model.features import FEATURE_NAMES
from model.serving import Predictor


async def record_answers(
    request: Request,
    route: str,
    predictor: Predictor,
    rows: Sequence[Sequence[float | None]],
    answers: Sequence[str],
) -> None:
    recorder: Recorder = request.app.state.recorder
    if not recorder.enabled:
        return
    state = request.scope.get("state", {})
    now = time.time()
    received = state.get("received_at", now)
    records = [
        Row(
            id=uuid7(now),
            request_id=state.get("request_id"),
            received_at=received,
            answered_at=now,
            route=route,
            model_version=predictor.version,
            artifact_sha256=predictor.artifact.sha256,
            caller=state.get("api_key_name") or state.get("cds_issuer"),
            status=200,
            error_code=None,
            inputs=json.dumps(dict(zip(FEATURE_NAMES, row, strict=True))),
            outputs=answer,
        )
        for row, answer in zip(rows, answers, strict=True)
    ]
    try:
        await recorder.record(records)
    except RecordUnavailableError:
        raise ApiError(RECORD_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER}) from None
