"""The 13 inputs read from FHIR resources (`app.clinical.fhir_inputs`):
codes and UCUM units, the newest usable Observation, panels, conversions,
and every refusal with its reason."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from app.clinical.fhir_inputs import LOINC, OWN_SYSTEM, UCUM, Reading, inputs
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES

TODAY = date(2026, 12, 1)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1972-06-30"}


def _obs(oid: str, system: str, code: str, when: str = "2026-11-01", status: str = "final",
         **value: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "effectiveDateTime": when,
        **value,
    }


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "system": UCUM, "code": unit, "unit": unit}}


def _answer(code: str) -> dict[str, Any]:
    return {"valueCodeableConcept": {"coding": [{"system": OWN_SYSTEM, "code": code}]}}


def example_chart() -> list[dict[str, Any]]:
    """The documented example patient, charted as an EHR would chart it."""
    return [
        _obs("bp", LOINC, "8480-6", **_quantity(130, "mm[Hg]")),
        _obs("chol", LOINC, "2093-3", **_quantity(245, "mg/dL")),
        _obs("glucose", LOINC, "1558-6", **_quantity(95, "mg/dL")),
        _obs("cp", OWN_SYSTEM, "chest_pain_type", **_answer("asymptomatic")),
        _obs("ecg", OWN_SYSTEM, "resting_ecg", **_answer("lv-hypertrophy")),
        _obs("hr", OWN_SYSTEM, "max_heart_rate", **_quantity(150, "/min")),
        _obs("angina", OWN_SYSTEM, "exercise_induced_angina", valueBoolean=False),
        _obs("st", OWN_SYSTEM, "st_depression", **_quantity(1.0, "mm")),
        _obs("slope", OWN_SYSTEM, "st_slope", **_answer("flat")),
        _obs("vessels", OWN_SYSTEM, "num_major_vessels", valueInteger=0),
        _obs("thal", OWN_SYSTEM, "thal", **_answer("normal")),
    ]


def _values(readings: list[Reading]) -> dict[str, float | None]:
    assert [r.field for r in readings] == list(FEATURE_NAMES)
    return {r.field: r.value for r in readings}


def test_a_full_chart_gives_the_example_patient() -> None:
    readings = inputs(PATIENT, example_chart(), TODAY)
    assert _values(readings) == {k: float(v) for k, v in EXAMPLE_PATIENT.items()}
    by_field = {r.field: r for r in readings}
    assert by_field["serum_cholesterol"].source == "Observation/chol"
    assert by_field["serum_cholesterol"].shown == "245 mg/dL"
    assert by_field["age"].source == "Patient/p1" and all(r.problem is None for r in readings)


def test_age_is_whole_years_on_the_day_and_sex_other_is_not_measured() -> None:
    day_before = inputs({**PATIENT, "birthDate": "1972-12-02"}, [], TODAY)
    on_the_day = inputs({**PATIENT, "birthDate": "1972-12-01"}, [], TODAY)
    assert (day_before[0].value, on_the_day[0].value) == (53.0, 54.0)
    other = inputs({**PATIENT, "gender": "other"}, [], TODAY)[1]
    assert other.value is None and "neither male nor female" in (other.problem or "")
    assert _values(inputs(None, [], TODAY)) == dict.fromkeys(FEATURE_NAMES)


@pytest.mark.parametrize(
    ("observation", "field", "expected"),
    [
        (_obs("c", LOINC, "14647-2", **_quantity(6.336, "mmol/L")), "serum_cholesterol", 245.01),
        (_obs("g", LOINC, "14771-0", **_quantity(6.7, "mmol/L")), "fasting_blood_sugar", 1.0),
        (_obs("g", LOINC, "14771-0", **_quantity(6.6, "mmol/L")), "fasting_blood_sugar", 0.0),
        (_obs("g", LOINC, "1558-6", **_quantity(121, "mg/dL")), "fasting_blood_sugar", 1.0),
    ],
)
def test_units_convert_to_the_apis(
    observation: dict[str, Any], field: str, expected: float
) -> None:
    value = _values(inputs(PATIENT, [observation], TODAY))[field]
    assert value == pytest.approx(expected, abs=0.01)


def test_mmol_and_mg_of_the_same_cholesterol_give_the_same_input() -> None:
    mg = inputs(PATIENT, [_obs("c", LOINC, "2093-3", **_quantity(232.02, "mg/dL"))], TODAY)
    mmol = inputs(PATIENT, [_obs("c", LOINC, "14647-2", **_quantity(6.0, "mmol/L"))], TODAY)
    assert _values(mg)["serum_cholesterol"] == pytest.approx(_values(mmol)["serum_cholesterol"])


def test_blood_pressure_is_read_from_a_panel_component() -> None:
    panel = _obs("panel", LOINC, "85354-9")
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, **_quantity(85, "mm[Hg]")},
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, **_quantity(142, "mm[Hg]")},
    ]
    reading = inputs(PATIENT, [panel], TODAY)[3]
    assert (reading.value, reading.source) == (142.0, "Observation/panel")


def test_the_newest_usable_result_wins_and_preliminary_never_counts() -> None:
    chart = [
        _obs("old", LOINC, "2093-3", "2025-01-01", **_quantity(300, "mg/dL")),
        _obs("amended", LOINC, "2093-3", "2026-06-01", "amended", **_quantity(210, "mg/dL")),
        _obs("prelim", LOINC, "2093-3", "2026-11-30", "preliminary", **_quantity(400, "mg/dL")),
        _obs("wrong", LOINC, "2093-3", "2026-11-29", "entered-in-error", **_quantity(1, "mg/dL")),
    ]
    reading = inputs(PATIENT, chart, TODAY)[4]
    assert (reading.value, reading.source, reading.when) == (210.0, "Observation/amended",
                                                              "2026-06-01")  # fmt: skip


@pytest.mark.parametrize(
    ("observation", "field", "problem"),
    [
        (_obs("c", LOINC, "2093-3", **_quantity(245, "mg")), "serum_cholesterol", "unit 'mg'"),
        (_obs("hr", OWN_SYSTEM, "max_heart_rate", **_quantity(400, "/min")), "max_heart_rate",
         "outside what the API accepts"),
        (_obs("t", OWN_SYSTEM, "thal", **_answer("abnormal")), "thal", "'abnormal' is not one"),
        (_obs("v", OWN_SYSTEM, "num_major_vessels", valueInteger=4), "num_major_vessels",
         "outside what the API accepts"),
        (_obs("a", OWN_SYSTEM, "exercise_induced_angina", valueString="yes"),
         "exercise_induced_angina", "no value of the expected type"),
    ],
)  # fmt: skip
def test_a_value_that_cannot_be_used_is_not_measured_and_says_why(
    observation: dict[str, Any], field: str, problem: str
) -> None:
    reading = {r.field: r for r in inputs(PATIENT, [observation], TODAY)}[field]
    assert reading.value is None and problem in (reading.problem or ""), reading
    assert reading.source == f"Observation/{observation['id']}"


def test_display_text_is_never_read_for_a_unit() -> None:
    quantity = {"valueQuantity": {"value": 245, "unit": "mg/dL", "code": "mg/dl", "system": UCUM}}
    reading = inputs(PATIENT, [_obs("c", LOINC, "2093-3", **quantity)], TODAY)[4]
    assert reading.value is None and "unit 'mg/dl'" in (reading.problem or "")
