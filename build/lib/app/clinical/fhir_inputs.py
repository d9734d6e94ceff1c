"""The 13 inputs from FHIR R4 resources: a Patient and Observations, as an
EHR holds them (prefetched, or read from its FHIR server), in their own
units. The mapping is the table in docs/clinical.md; every value taken or
refused is reported as a `Reading`, so the card can say what was used, from
when, and why anything was not.

Rules:
- Observations match on their code (LOINC where one exists, else this
  service's own CodeSystem, `OWN_SYSTEM`) and, for quantities, on the UCUM
  system and code of the unit, never on display text.
- Only status final, amended or corrected counts; of those, the newest
  (effectiveDateTime, else issued) is used.
- A value in a unit not listed, or outside what the API accepts, counts as
  not measured, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from model.features import FEATURE_NAMES, FEATURES

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OWN_SYSTEM = "urn:heart-risk-service:fhir:CodeSystem:heart-disease-features"
"""The canonical URL of this service's own CodeSystem (served at
/fhir/CodeSystem/heart-disease-features) for the inputs no standard code names."""

USABLE_STATUS = frozenset({"final", "amended", "corrected"})
BP_PANEL = "85354-9"
MMOL_CHOLESTEROL = 38.67  # mg/dL per mmol/L
MMOL_GLUCOSE = 18.016  # mg/dL per mmol/L (120 mg/dL = 6.66 mmol/L)

QUANTITIES: dict[str, list[tuple[str, str, str, float]]] = {
    # field: [(system, code, UCUM unit, factor to the API's unit)]
    "resting_blood_pressure": [(LOINC, "8480-6", "mm[Hg]", 1.0)],
    "serum_cholesterol": [
        (LOINC, "2093-3", "mg/dL", 1.0),
        (LOINC, "14647-2", "mmol/L", MMOL_CHOLESTEROL),
    ],
    "fasting_blood_sugar": [
        (LOINC, "1558-6", "mg/dL", 1.0),
        (LOINC, "14771-0", "mmol/L", MMOL_GLUCOSE),
    ],
    "max_heart_rate": [(OWN_SYSTEM, "max_heart_rate", "/min", 1.0)],
    "st_depression": [(OWN_SYSTEM, "st_depression", "mm", 1.0)],
}
ANSWERS: dict[str, dict[str, int]] = {
    # field: {answer code in OWN_SYSTEM: the API's code}
    "chest_pain_type": {
        "typical-angina": 1, "atypical-angina": 2, "non-anginal-pain": 3, "asymptomatic": 4,
    },
    "resting_ecg": {"normal": 0, "st-t-abnormality": 1, "lv-hypertrophy": 2},
    "st_slope": {"upsloping": 1, "flat": 2, "downsloping": 3},
    "thal": {"normal": 3, "fixed-defect": 6, "reversible-defect": 7},
}  # fmt: skip
BOOLEANS = ("exercise_induced_angina",)
INTEGERS = ("num_major_vessels",)
FASTING_THRESHOLD = 120.0  # mg/dL: fasting_blood_sugar is 1 above it


@dataclass(frozen=True)
class Reading:
    """What the chart gave for one input: its value (None: not measured),
    where it came from, and why a value found was not used."""

    field: str
    value: float | None
    source: str | None = None  # e.g. "Observation/123" or "Patient/9"
    when: str | None = None  # the Observation's date, as written
    shown: str | None = None  # the value as charted, e.g. "6.2 mmol/L"
    problem: str | None = None  # why a charted value counts as not measured
    charted: tuple[float, str] | None = None  # a quantity as charted: (value, UCUM unit)


def inputs(
    patient: dict[str, Any] | None, observations: Iterable[dict[str, Any]], today: date
) -> list[Reading]:
    """One Reading per input, in FEATURE_NAMES order."""
    usable = sorted(
        (o for o in observations if o.get("resourceType") == "Observation"
         and o.get("status") in USABLE_STATUS),
        key=_when, reverse=True,
    )  # fmt: skip
    readings = [*_from_patient(patient, today)]
    for name in FEATURE_NAMES[2:]:
        readings.append(_newest(name, usable))
    return [_checked(r) for r in readings]


def other_patient(
    patient_id: str, patient: dict[str, Any] | None, observations: Iterable[dict[str, Any]]
) -> str | None:
    """Why these resources are not all the patient `patient_id`'s, or None:
    a Patient with another id, or an Observation whose subject is another
    patient (a reference ending in Patient/<other id>)."""
    if patient is not None and patient.get("id") not in (None, patient_id):
        return f"The Patient resource is not Patient/{patient_id}."
    for o in observations:
        subject = o.get("subject")
        reference = subject.get("reference") if isinstance(subject, dict) else None
        if isinstance(reference, str) and reference.split("/")[-2:] != ["Patient", patient_id]:
            return f"Observation/{o.get('id')} is about another patient, not Patient/{patient_id}."
    return None


def _from_patient(patient: dict[str, Any] | None, today: date) -> list[Reading]:
    if patient is None:
        return [Reading("age", None), Reading("sex", None)]
    source = f"Patient/{patient.get('id')}"
    age = Reading("age", None, source, problem="no birthDate")
    birth = patient.get("birthDate")
    if isinstance(birth, str) and len(birth) == 10:
        born = date.fromisoformat(birth)
        years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        age = Reading("age", float(years), source, shown=f"{years} (born {birth})")
    gender = patient.get("gender")
    sex = {"male": 1.0, "female": 0.0}.get(gender) if isinstance(gender, str) else None
    problem = None if sex is not None else f"gender {gender!r} is neither male nor female"
    return [age, Reading("sex", sex, source, shown=gender, problem=problem)]


def _newest(name: str, observations: list[dict[str, Any]]) -> Reading:
    """The newest usable Observation that carries `name`, as a Reading."""
    for o in observations:
        found = _read(name, o)
        if found is not None:
            return found
    return Reading(name, None)


def _read(name: str, o: dict[str, Any]) -> Reading | None:
    """`name`'s Reading from Observation o, or None if o does not carry it."""
    source, when = f"Observation/{o.get('id')}", _when(o) or None
    if name in QUANTITIES:
        for system, code, unit, factor in QUANTITIES[name]:
            quantity = _quantity(o, system, code)
            if quantity is None:
                continue
            value, unit_system, unit_code = quantity
            shown = f"{value:g} {unit_code}"
            if unit_system != UCUM or unit_code != unit:
                return Reading(name, None, source, when, shown, f"unit {unit_code!r}, not {unit}")
            converted = _converted(name, value * factor)
            return Reading(name, converted, source, when, shown, charted=(value, unit_code))
        return None
    if not _has_code(o.get("code"), OWN_SYSTEM, name):
        return None
    if name in ANSWERS:
        answer = _coding_code(o.get("valueCodeableConcept"), OWN_SYSTEM)
        mapped = ANSWERS[name].get(answer) if answer else None
        if mapped is None:
            problem = f"answer {answer!r} is not one of its codes"
            return Reading(name, None, source, when, answer, problem)
        return Reading(name, float(mapped), source, when, answer)
    raw = o.get("valueBoolean") if name in BOOLEANS else o.get("valueInteger")
    if name in BOOLEANS and isinstance(raw, bool):
        return Reading(name, float(raw), source, when, str(raw).lower())
    if name in INTEGERS and isinstance(raw, int) and not isinstance(raw, bool):
        return Reading(name, float(raw), source, when, str(raw))
    return Reading(name, None, source, when, problem="no value of the expected type")


def _quantity(o: dict[str, Any], system: str, code: str) -> tuple[float, str, str] | None:
    """(value, unit system, unit code) of o's quantity coded system|code:
    o's own valueQuantity, or a component's (a blood-pressure panel)."""
    candidates = [o] if _has_code(o.get("code"), system, code) else []
    if _has_code(o.get("code"), LOINC, BP_PANEL):
        candidates += [c for c in o.get("component", []) if _has_code(c.get("code"), system, code)]
    for c in candidates:
        q = c.get("valueQuantity")
        if isinstance(q, dict) and isinstance(q.get("value"), int | float):
            return float(q["value"]), str(q.get("system")), str(q.get("code"))
    return None


def _converted(name: str, mg_dl: float) -> float:
    return float(mg_dl > FASTING_THRESHOLD) if name == "fasting_blood_sugar" else mg_dl


def _checked(r: Reading) -> Reading:
    """A value the API would refuse counts as not measured."""
    if r.value is None:
        return r
    feature = FEATURES[FEATURE_NAMES.index(r.field)]
    if feature.accepts(r.value):
        return r
    return Reading(
        r.field, None, r.source, r.when, r.shown, "outside what the API accepts", r.charted
    )


def _has_code(concept: Any, system: str, code: str) -> bool:
    return isinstance(concept, dict) and any(
        c.get("system") == system and c.get("code") == code for c in concept.get("coding", [])
    )


def _coding_code(concept: Any, system: str) -> str | None:
    if not isinstance(concept, dict):
        return None
    codes = [c.get("code") for c in concept.get("coding", []) if c.get("system") == system]
    return codes[0] if codes else None


def _when(o: dict[str, Any]) -> str:
    return str(o.get("effectiveDateTime") or o.get("issued") or "")
