"""The FHIR R4 routes: `POST /fhir/RiskAssessment/$assess` (a Bundle of the
Patient and Observations in, the RiskAssessment out) and the service's own
CodeSystem.

Errors here are FHIR OperationOutcomes, as FHIR clients expect: 400 for a
body that is not a JSON Bundle of type `collection`, 422 for a Bundle whose
content cannot be assessed (no Patient, a Patient without an id, an entry
that is not a resource). Both name what is wrong; neither echoes a value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.api.recording import record_answers
from app.api.scoring import scored
from app.clinical.cds_models import FHIR_ID
from app.clinical.codesystem import CODE_SYSTEM_ID, code_system
from app.clinical.fhir_inputs import inputs, other_patient
from app.clinical.risk_assessment import risk_assessment
from app.deps import get_predictor
from app.errors import responses
from app.policy import PUBLIC, Caller, Policy, declare

FHIR_JSON = "application/fhir+json"
JSON = "application/json"
TAG = "FHIR"

router = APIRouter(tags=[TAG])


_PATIENT_ENTRY = {
    "type": "object",
    "required": ["resource"],
    "properties": {
        "resource": {
            "type": "object",
            "required": ["resourceType", "id"],
            "properties": {
                "resourceType": {"const": "Patient"},
                "id": {"type": "string", "pattern": FHIR_ID},
            },
        }
    },
}
_BUNDLE_SCHEMA = {
    "type": "object",
    "description": "A FHIR R4 Bundle of type collection: the Patient (exactly one) and their "
    "Observations.",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "collection"},
        "entry": {
            "type": "array",
            "contains": _PATIENT_ENTRY,
            "items": {
                "type": "object",
                "properties": {
                    "resource": {
                        "type": "object",
                        "required": ["resourceType"],
                        "properties": {"resourceType": {"type": "string", "minLength": 1}},
                    }
                },
                "required": ["resource"],
            },
        },
    },
}
_OUTCOME = {
    "description": "A FHIR OperationOutcome saying what is wrong.",
    "content": {FHIR_JSON: {"schema": {"type": "object"}}},
}


def _fhir(resource: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON)


def outcome(status: int, code: str, diagnostics: str, where: str | None = None) -> JSONResponse:
    """An OperationOutcome answer with one error issue."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if where is not None:
        issue["expression"] = [where]
    return _fhir({"resourceType": "OperationOutcome", "issue": [issue]}, status)


@router.post(
    "/fhir/RiskAssessment/$assess",
    responses={
        200: {
            "description": "The RiskAssessment (FHIR R4).",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        },
        400: _OUTCOME,
        **responses(401, 403),
        422: _OUTCOME,
    },
    summary="The FHIR RiskAssessment for a Bundle of a Patient and their Observations",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": _BUNDLE_SCHEMA} for media in (FHIR_JSON, JSON)},
        }
    },
)
@declare(Policy(Caller.SCORE, recorded=True, heavy=True))
async def assess(request: Request) -> Response:
    predictor = await get_predictor(request)
    try:
        bundle = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return outcome(400, "structure", "The body is not JSON.")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return outcome(400, "structure", "The body must be a FHIR Bundle.", "Bundle")
    if bundle.get("type") != "collection":
        return outcome(400, "value", "Bundle.type must be 'collection'.", "Bundle.type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return outcome(400, "structure", "Bundle.entry must be a list.", "Bundle.entry")
    resources: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(kind, str) or not kind:
            where = f"Bundle.entry[{i}].resource"
            return outcome(422, "structure", "Each entry must hold a FHIR resource.", where)
        resources.append(entry["resource"])
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1 or not isinstance(patients[0].get("id"), str):
        return outcome(
            422, "required", "The Bundle must hold exactly one Patient, with an id.", "Bundle.entry"
        )
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    problem = other_patient(patients[0]["id"], None, observations)
    if problem is not None:
        return outcome(422, "invariant", problem, "Observation.subject")
    now = datetime.now(UTC)
    readings = inputs(patients[0], observations, now.date())
    row = [r.value for r in readings]
    (answer,) = await scored(request.app.state, [row], partial(predictor.assess, [row]))
    resource = risk_assessment(patients[0]["id"], readings, answer, predictor.version, now)
    text = json.dumps(resource)
    await record_answers(request, predictor, [row], text)  # the answer as sent
    return Response(text, media_type=FHIR_JSON)


@router.get(
    f"/fhir/CodeSystem/{CODE_SYSTEM_ID}",
    responses={200: {"description": "The CodeSystem (FHIR R4).",
                     "content": {FHIR_JSON: {"schema": {"type": "object"}}}}},
    summary="The service's own CodeSystem: the inputs no LOINC code names, and their answers",
)  # fmt: skip
@declare(PUBLIC)
async def codes(request: Request) -> JSONResponse:
    return _fhir(code_system(request.app.version))
