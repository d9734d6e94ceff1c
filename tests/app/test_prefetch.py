"""CDS Hooks prefetch (`app.clinical.prefetch`): the templates name exactly
the codes of docs/clinical.md, and what an EHR sends back is read as
resources, "not on file" or "not fetched"."""

from __future__ import annotations

from typing import Any

import pytest

from app.clinical.fhir_inputs import inputs
from app.clinical.prefetch import PrefetchError, read, templates
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from tests.app.test_fhir_inputs import PATIENT, TODAY, example_chart

OBSERVED = FEATURE_NAMES[2:]


def test_one_key_per_input_with_the_documented_codes() -> None:
    t = templates()
    assert list(t) == ["patient", *OBSERVED]
    assert t["patient"] == "Patient/{{context.patientId}}"
    assert "code=http://loinc.org|2093-3,http://loinc.org|14647-2&" in t["serum_cholesterol"]
    assert "code=http://loinc.org|8480-6,http://loinc.org|85354-9&" in t["resting_blood_pressure"]
    own = "urn:heart-risk-service:fhir:CodeSystem:heart-disease-features"
    assert f"code={own}|thal&" in t["thal"]
    for query in list(t.values())[1:]:
        assert query.startswith("Observation?patient={{context.patientId}}&code=")
        assert query.endswith("&status=amended,corrected,final&_sort=-date&_count=1")


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


FIELD_OF = {"bp": "resting_blood_pressure", "chol": "serum_cholesterol",
            "glucose": "fasting_blood_sugar", "cp": "chest_pain_type", "ecg": "resting_ecg",
            "hr": "max_heart_rate", "angina": "exercise_induced_angina", "st": "st_depression",
            "slope": "st_slope", "vessels": "num_major_vessels", "thal": "thal"}  # fmt: skip


def full_prefetch() -> dict[str, Any]:
    """The example patient as an EHR prefetches it: a Bundle per key."""
    prefetch: dict[str, Any] = {"patient": PATIENT}
    for o in example_chart():
        prefetch[FIELD_OF[o["id"]]] = _bundle(o)
    return prefetch


def test_a_full_prefetch_reads_as_the_example_patient() -> None:
    patient, observations, absent = read(full_prefetch())
    assert absent == [] and patient == PATIENT and len(observations) == 11
    values = {r.field: r.value for r in inputs(patient, observations, TODAY)}
    assert values == {k: float(v) for k, v in EXAMPLE_PATIENT.items()}


def test_null_and_empty_bundles_are_not_on_file_absent_keys_are_not_fetched() -> None:
    prefetch = full_prefetch()
    prefetch["thal"] = None
    prefetch["num_major_vessels"] = _bundle()
    del prefetch["st_slope"], prefetch["patient"]
    patient, observations, absent = read(prefetch)
    assert absent == ["patient", "st_slope"] and patient is None
    values = {r.field: r.value for r in inputs(patient, observations, TODAY)}
    assert values["thal"] is values["num_major_vessels"] is values["st_slope"] is None


@pytest.mark.parametrize(
    "bad", ["yes", 3, [], {"entry": []}, {"resourceType": "Bundle", "entry": 1}]
)
def test_a_value_that_is_no_resource_is_refused_by_key(bad: Any) -> None:
    with pytest.raises(PrefetchError, match="'thal'"):
        read({**full_prefetch(), "thal": bad})
