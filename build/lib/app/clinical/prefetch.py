"""CDS Hooks prefetch: the templates this service asks an EHR to fill (one
key per input, named after the API's field, plus `patient`), and reading
what the EHR sent back.

Each Observation query asks for the newest final, amended or corrected
result of the codes that can carry the input (both units where there are
two, the blood-pressure panel beside the single value), so that the EHR
sends one resource per key; `app.clinical.fhir_inputs` still checks status,
date and unit of whatever arrives.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from app.clinical.fhir_inputs import BP_PANEL, LOINC, OWN_SYSTEM, QUANTITIES, USABLE_STATUS
from model.features import FEATURE_NAMES

PATIENT_KEY = "patient"
PATIENT_ID = "{{context.patientId}}"


def _codes(field: str) -> list[str]:
    """`system|code` of every code that can carry `field`."""
    if field in QUANTITIES:
        codes = [f"{system}|{code}" for system, code, _, _ in QUANTITIES[field]]
        if field == "resting_blood_pressure":
            codes.append(f"{LOINC}|{BP_PANEL}")
        return codes
    return [f"{OWN_SYSTEM}|{field}"]


@cache
def templates() -> dict[str, str]:
    """The discovery document's `prefetch`: `patient`, then one key per input
    that an Observation carries (age and sex come from the Patient). Made
    once (every call reads it); callers must not change it."""
    status = ",".join(sorted(USABLE_STATUS))
    out = {PATIENT_KEY: f"Patient/{PATIENT_ID}"}
    for field in FEATURE_NAMES[2:]:
        out[field] = (
            f"Observation?patient={PATIENT_ID}&code={','.join(_codes(field))}"
            f"&status={status}&_sort=-date&_count=1"
        )
    return out


class PrefetchError(ValueError):
    """A prefetch value that is neither null, a resource nor a Bundle."""


def read(prefetch: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[str]]:
    """(the Patient or None, every Observation sent, the keys not fetched).

    A key present with `null` or an empty Bundle means "not on file"; an
    absent key, or one holding an OperationOutcome (the EHR's way of saying
    its fetch failed), means "not fetched": to be read from its FHIR server,
    or the call cannot be answered (412)."""
    keys = list(templates())
    absent = [key for key in keys if key not in prefetch or _failed(prefetch[key])]
    patient = None
    observations: list[dict[str, Any]] = []
    for key in keys:
        if key in absent:
            continue
        for resource in _resources(key, prefetch.get(key)):
            if key == PATIENT_KEY and resource.get("resourceType") == "Patient":
                patient = resource
            elif resource.get("resourceType") == "Observation":
                observations.append(resource)
    return patient, observations, absent


def _failed(value: Any) -> bool:
    """An OperationOutcome, alone or as a Bundle's only content."""
    if not isinstance(value, dict):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return True
    entries = value.get("entry") if value.get("resourceType") == "Bundle" else None
    if not isinstance(entries, list):
        return False
    kinds = {
        e.get("resource", {}).get("resourceType")
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    }
    return kinds == {"OperationOutcome"}


def _resources(key: str, value: Any) -> list[dict[str, Any]]:
    """The resources of one prefetch value: none, one, or a Bundle's entries."""
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise PrefetchError(f"prefetch '{key}' is neither null, a FHIR resource nor a Bundle")
    if value["resourceType"] != "Bundle":
        return [value]
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise PrefetchError(f"prefetch '{key}': Bundle.entry must be a list")
    return [
        e["resource"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
