"""Recording the answers of the scoring routes (/predict, /explain, their
batches, V2, FHIR, the CDS Hooks card, the page) in `app.record`: one row
per request, holding every patient it answered, with the request id, the
caller's name (API key or JWT issuer), the model, the inputs and the
answers as sent; the route waits until the row is durable, and answers 503
`record_unavailable` if it cannot be made so. The risk page's caller is its
SMART launch's fhirUser, else its iss."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import anyio
from fastapi import Request

from app.config import Settings
from app.errors import RECORD_UNAVAILABLE, RETRY_AFTER, ApiError
from app.record.recorder import Recorder, RecordUnavailableError
from app.record.rows import HASHED, Row, uuid7
from app.record.store import StoreError
from model.features import FEATURE_NAMES
from model.serving import Predictor

log = logging.getLogger("app")

T = TypeVar("T")


def record_answers(
    request: Request,
    predictor: Predictor,
    rows: Sequence[Sequence[float | None]],
    outputs: str,
    body: bytes | None = None,
) -> Coroutine[Any, Any, str | None]:
    """One row for the request, under the path called: its patients'
    values (`rows`) and their answers as `Row.outputs` holds them (`rows[0]`'s
    JSON text alone, or the JSON array of each row's, in order); `body`,
    when the request's body is those patients as validated (a Patient or a
    BatchRequest), is kept as it came rather than written again.

    The row is made now; await what this returns for it to be durable (503
    `record_unavailable` if it cannot be), which holds the row and nothing
    else, so that a route that lets go of its patients first does not keep
    them alive while it waits (docs/performance.md). It gives the row's id,
    the first patient's (`app.record.rows.patient_ids` gives the others;
    None with AUDIT=off)."""
    recorder: Recorder = request.app.state.recorder
    if not recorder.enabled or not rows:
        return _kept(recorder, None)
    kept = request.app.state.kept_inputs  # inputs_kept(settings), made at start-up
    row = _row(request, predictor, time.time(), 200, None, kept(rows, body), outputs, len(rows))
    return _kept(recorder, row)


async def _kept(recorder: Recorder, row: Row | None) -> str | None:
    if row is None:
        return None
    try:
        await recorder.record([row])
    except RecordUnavailableError:
        raise ApiError(RECORD_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER}) from None
    return row.id


async def record_refusal(request: Request, status: int, code: str) -> None:
    """One row for a refused scoring request: its status and error code, no
    body. Written before the refusal leaves; if it cannot be, the refusal
    still goes (and the log says so): an error answer carries no result."""
    recorder: Recorder = request.app.state.recorder
    template = getattr(request.scope.get("route"), "path", None)
    if not recorder.enabled or template not in request.app.state.rules.recorded:
        return
    predictor = getattr(request.app.state, "predictor", None)
    row = _row(request, predictor, time.time(), status, code, None, None)
    try:
        await recorder.record([row])
    except RecordUnavailableError as exc:
        log.error("record: the refusal of a %s request was not recorded: %s", row.route, exc)


async def in_store(call: Callable[..., T], *args: Any) -> T:
    """`call(*args)`, a method of the record's store, in a worker thread;
    503 `record_unavailable` when its database cannot be reached."""
    try:
        return await anyio.to_thread.run_sync(call, *args)
    except StoreError:
        raise ApiError(RECORD_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER}) from None


def _row(
    request: Request,
    predictor: Predictor | None,
    now: float,
    status: int,
    code: str | None,
    inputs: str | None,
    outputs: str | None,
    patients: int = 1,
) -> Row:
    """A row of the record for `request`: who asked, when, where, which model."""
    state = request.scope.get("state", {})
    return Row(
        id=uuid7(now, patients),
        request_id=state.get("request_id"),
        received_at=state.get("received_at", now),
        answered_at=now,
        route=request.scope["path"],  # request.url.path, without building the URL
        model_version=predictor.version if predictor is not None else None,
        artifact_sha256=predictor.artifact.sha256 if predictor is not None else None,
        caller=state.get("api_key_name") or state.get("cds_issuer") or state.get("page_caller"),
        status=status,
        error_code=code,
        inputs=inputs,
        outputs=outputs,
        patients=patients,
    )


Values = Sequence[float | None]
_PATIENT = "{" + ", ".join(f'"{name}": %s' for name in FEATURE_NAMES) + "}"
_NUMBERS = (float, int)


def patient_json(row: Values) -> str:
    """A patient's values (FEATURE_NAMES order) as the JSON text that
    `json.dumps` gives their {name: value} dict, to the byte; twice as fast
    (the repr of a float or an int is its JSON), which matters per patient
    on the request path (docs/performance.md)."""
    return _PATIENT % tuple(
        ["null" if v is None else repr(v) if type(v) in _NUMBERS else json.dumps(v) for v in row]
    )


def inputs_kept(settings: Settings) -> Callable[[Sequence[Values], bytes | None], str]:
    """How a request's patients' values (FEATURE_NAMES order) are kept, as
    `Row.inputs` says: with AUDIT_INPUTS=full, their JSON (the request's
    body as validated, when given; else `patient_json`'s); with hash and
    AUDIT_HMAC_KEY, `hmac-sha256:<hex>` of each one's canonical JSON
    (FEATURE_NAMES order, every value a float or null, `json.dumps`'s
    default separators): the same values give the same digest, so a site
    holding them can find their rows, and nobody can read them back."""
    if settings.audit_inputs == "full" or settings.audit_hmac_key is None:
        return _values_json
    key = settings.audit_hmac_key.get_secret_value().encode()

    def digest(row: Values) -> str:
        canonical = [None if v is None else float(v) for v in row]
        text = json.dumps(dict(zip(FEATURE_NAMES, canonical, strict=True))).encode()
        return HASHED + hmac.new(key, text, hashlib.sha256).hexdigest()

    def digests(rows: Sequence[Values], body: bytes | None) -> str:
        return digest(rows[0]) if len(rows) == 1 else json.dumps([digest(r) for r in rows])

    return digests


def _values_json(rows: Sequence[Values], body: bytes | None) -> str:
    return body.decode() if body is not None else one_or_array([patient_json(r) for r in rows])


def one_or_array(texts: Sequence[str]) -> str:
    """One JSON text as it is, several as a JSON array (`Row`'s forms)."""
    return texts[0] if len(texts) == 1 else f"[{','.join(texts)}]"
