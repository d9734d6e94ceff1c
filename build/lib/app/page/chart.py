"""A launched session's chart: its patient's Patient and Observations, read
from the launch's `iss` (and nowhere else) with the session's token,
through the CDS service's own reader and mapping (`app.clinical`: UCUM
units, mmol/L converted, statuses, the newest result).

An expired token is renewed with the refresh token when one was granted,
and the read tried once more; otherwise the session is over (401, "open it
again from the EHR").
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from app.clinical import prefetch
from app.clinical.fhir_inputs import Reading, inputs, other_patient
from app.clinical.fhir_reads import FhirServerError
from app.errors import EHR_UNAVAILABLE, PAGE_EXPIRED, ApiError
from app.page.sessions import Session, clock

log = logging.getLogger("app")


async def read_chart(request: Request, session: Session) -> tuple[list[Reading], dict[str, Any]]:
    """The 13 Readings of the session's patient, and who the patient is
    (name, birth date, reference, iss) for the page's header."""
    smart = request.app.state.smart
    if clock() >= session.expires and not await smart.refresh(session):
        raise _ended(request)
    keys = list(prefetch.templates())
    reader = request.app.state.fhir_reader
    try:
        given = await reader.read(session.iss, session.access_token, session.patient, keys)
    except FhirServerError as exc:
        if not exc.unauthorized:
            log.warning("risk page: the chart cannot be read from %s: %s", session.iss, exc)
            raise ApiError(EHR_UNAVAILABLE, f"The EHR's FHIR server: {exc}.") from None
        if not await smart.refresh(session):
            raise _ended(request) from None
        given = await _read_again(reader, session, keys)
    try:
        patient, observations, _ = prefetch.read(given)
    except prefetch.PrefetchError as exc:
        raise ApiError(EHR_UNAVAILABLE, f"The EHR's FHIR server: {exc}") from None
    problem = other_patient(session.patient, patient, observations)
    if problem is not None:
        raise ApiError(EHR_UNAVAILABLE, problem)
    readings = inputs(patient, observations, datetime.now(UTC).date())
    return readings, _who(session, patient)


async def _read_again(reader: Any, session: Session, keys: list[str]) -> dict[str, Any]:
    try:
        return await reader.read(session.iss, session.access_token, session.patient, keys)  # type: ignore[no-any-return]
    except FhirServerError as exc:
        log.warning("risk page: the chart cannot be read from %s after a refresh: %s",
                    session.iss, exc)  # fmt: skip
        raise ApiError(EHR_UNAVAILABLE, f"The EHR's FHIR server: {exc}.") from None


def _ended(request: Request) -> ApiError:
    sid = request.scope.get("state", {}).get("page_session_id")
    if sid is not None:
        request.app.state.page_sessions.close(sid)
    return ApiError(PAGE_EXPIRED)


def _who(session: Session, patient: dict[str, Any] | None) -> dict[str, Any]:
    name = None
    for entry in (patient or {}).get("name", []):
        text = entry.get("text") or " ".join([*entry.get("given", []), entry.get("family", "")])
        if text.strip():
            name = text.strip()
            break
    return {
        "name": name or "(no name on file)",
        "born": (patient or {}).get("birthDate"),
        "reference": f"Patient/{session.patient}",
        "iss": session.iss,
    }
