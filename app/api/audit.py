"""GET /audit/predictions and GET /audit/predictions/{id}: reading the
record (`app.record`); POST /outcomes: what was later found, linked to a
recorded answer. All need a key with the `audit` scope
(`app.policy`): the rows hold patients' values.

Pages go oldest first; `next` is the cursor of the following page (null on
the last). Queries run in a worker thread, off the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.api.recording import in_store
from app.errors import (
    AMBIGUOUS,
    MONITORING_PENDING,
    NOT_FOUND,
    ApiError,
    responses,
)
from app.policy import Caller, Policy, declare
from app.record import answers
from app.record.answers import START, Cursor
from app.record.recorder import Recorder

_UNREADABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The record's database cannot be reached (record_unavailable)."}
}

router = APIRouter(tags=["record"])
AUDIT = Policy(Caller.AUDIT)
"""The record's routes: they hold patients' values, so a key with the audit
scope is needed whether or not other keys are set."""


class RecordedAnswer(BaseModel):
    id: str = Field(description="Time-ordered (UUIDv7).")
    request_id: str | None
    received_at: datetime
    answered_at: datetime
    latency_ms: float
    route: str
    model_version: str | None
    artifact_sha256: str | None
    caller: str | None = Field(description="The API key's name or the EHR's JWT issuer.")
    status: int
    error_code: str | None
    inputs: Any = Field(description="The patient's values, or their HMAC (AUDIT_INPUTS=hash).")
    outputs: Any = Field(description="The answer as it was sent.")
    prev_hash: str = Field(description="The chain's hash before the request's row.")
    row_hash: str = Field(description="The request's row's (a batch's answers share one row).")


class RecordPage(BaseModel):
    items: list[RecordedAnswer]
    next: str | None = Field(description="The `after` of the next page; null on the last.")


def _answer(answer: dict[str, Any]) -> RecordedAnswer:
    """One answer (`app.record.answers`) as the audit API shows it."""
    return RecordedAnswer(
        **{k: answer[k] for k in ("id", "request_id", "route", "model_version", "artifact_sha256",
                                  "caller", "status", "error_code", "inputs", "outputs",
                                  "prev_hash", "row_hash")},
        received_at=datetime.fromtimestamp(answer["received_at"], UTC),
        answered_at=datetime.fromtimestamp(answer["answered_at"], UTC),
        latency_ms=round((answer["answered_at"] - answer["received_at"]) * 1000, 3),
    )  # fmt: skip


async def _read(request: Request, reading: Any, *args: Any) -> Any:
    """`reading(store, *args)`, a function of `app.record.answers`, off the loop."""
    recorder: Recorder = request.app.state.recorder
    if recorder.store is None:
        raise ApiError(NOT_FOUND, "The record is off (AUDIT=off).")
    return await in_store(reading, recorder.store, *args)


@router.get(
    "/audit/predictions",
    response_model=RecordPage,
    responses={**responses(401, 403), **_UNREADABLE},
    summary="The recorded answers, oldest first, filtered and paginated",
)
@declare(AUDIT)
async def recorded(
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: str | None = None,
    request_id: str | None = None,
    caller: str | None = None,
    after: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}(\.[0-9]{1,9})?$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecordPage:
    filters = {"model_version": model_version, "request_id": request_id, "caller": caller,
               "since": _seconds(since), "until": _seconds(until)}  # fmt: skip
    found, more = await _read(request, answers.page, filters, Cursor.parse(after), limit)
    return RecordPage(items=[_answer(a) for a in found], next=None if more is None else str(more))


@router.get(
    "/audit/predictions/{answer_id}",
    response_model=RecordedAnswer,
    responses={**responses(401, 403), **_UNREADABLE},
    summary="One recorded answer, by its id",
)
@declare(AUDIT)
async def one_recorded(request: Request, answer_id: str) -> RecordedAnswer:
    found = await _read(request, answers.find, answer_id)
    if found is None:
        raise ApiError(NOT_FOUND, f"No recorded answer {answer_id!r}.")
    return _answer(found)


def _seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class OutcomeIn(BaseModel):
    """What was found later (e.g. by angiography) for one recorded answer."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["prediction_id"]}, {"required": ["request_id"]}]
        },
    )
    prediction_id: str | SkipJsonSchema[None] = Field(
        None, description="The recorded answer's id; or give request_id."
    )
    request_id: str | SkipJsonSchema[None] = Field(
        None, description="The answer's X-Request-ID (a single-patient request's)."
    )
    outcome: Literal[0, 1] = Field(description="1: heart disease found; 0: not.")
    observed_at: Annotated[AwareDatetime, Field(strict=False)]

    @model_validator(mode="after")
    def _one_reference(self) -> OutcomeIn:
        if (self.prediction_id is None) == (self.request_id is None):
            raise ValueError("give exactly one of prediction_id or request_id")
        return self


class OutcomeRecorded(BaseModel):
    id: str
    prediction_id: str


@router.post(
    "/outcomes",
    response_model=OutcomeRecorded,
    status_code=201,
    responses={**responses(400, 401, 403, 422), **_UNREADABLE,
               404: {"description": "No such recorded answer."},
               409: {"description": "request_id names several answers (a batch)."}},
    summary="Link what was later found to a recorded answer",
)  # fmt: skip
@declare(AUDIT)
async def outcome(request: Request, found: OutcomeIn) -> OutcomeRecorded:
    if found.prediction_id is not None:
        one = await _read(request, answers.find, found.prediction_id)
        rows = [] if one is None else [one]
    else:
        rows, _ = await _read(request, answers.page, {"request_id": found.request_id}, START, 2)
    if not rows:
        raise ApiError(NOT_FOUND, "No recorded answer with that id.")
    if len(rows) > 1:
        raise ApiError(AMBIGUOUS, "That request answered several patients; send prediction_id.")
    store = request.app.state.recorder.store
    caller = request.scope.get("state", {}).get("api_key_name")
    observed = found.observed_at.timestamp()
    outcome_id = await in_store(store.add_outcome, rows[0]["id"], found.outcome, observed, caller)
    return OutcomeRecorded(id=outcome_id, prediction_id=rows[0]["id"])


@router.get(
    "/monitoring",
    responses={**responses(401, 403), 503: {"description": "No report yet (the first is coming)."}},
    summary="Drift of the inputs, missing values, warnings, probabilities and, with outcomes, "
    "performance over the latest answers",
)
@declare(AUDIT)
async def monitoring(request: Request) -> dict[str, Any]:
    latest: dict[str, Any] | None = request.app.state.monitor.latest
    if latest is None:
        raise ApiError(MONITORING_PENDING)
    return latest
