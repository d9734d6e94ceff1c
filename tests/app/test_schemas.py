"""The request schemas, below HTTP: `validate_json`'s fast path must never
change an answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.schemas import BatchRequest, Patient, validate_json
from model.features import EXAMPLE_PATIENT, FEATURES

# Values near and across each feature's limits, in every JSON type the
# schema must refuse or accept: ints, whole floats, fractions, strings,
# booleans, null.
_VALUE = st.one_of(
    st.integers(min_value=-2, max_value=1100),
    st.integers(min_value=-2, max_value=1100).map(float),
    st.floats(min_value=-2, max_value=1100, allow_nan=False),
    st.sampled_from([True, False, None, "3", 2.6e-42, 1.0000000000000002]),
)
_PATIENT = st.fixed_dictionaries(
    {},
    optional={f.name: _VALUE for f in FEATURES} | {"extra": _VALUE},
).map(lambda drawn: {**EXAMPLE_PATIENT, **drawn})


def _outcome(model: Any, body: bytes, validate: Any) -> Any:
    try:
        return validate(model, body).model_dump()
    except ValidationError as exc:
        return exc.errors(include_url=False)


def _reference(model: Any, body: bytes) -> Any:
    return model.model_validate_json(body)


@settings(max_examples=300, deadline=None)
@given(patient=_PATIENT)
def test_validate_json_answers_as_the_public_schema_does(patient: dict[str, Any]) -> None:
    body = json.dumps(patient).encode()
    assert _outcome(Patient, body, validate_json) == _outcome(Patient, body, _reference)


@settings(max_examples=100, deadline=None)
@given(patients=st.lists(_PATIENT, min_size=0, max_size=4))
def test_validate_json_answers_batches_as_the_public_schema_does(
    patients: list[dict[str, Any]],
) -> None:
    body = json.dumps({"patients": patients}).encode()
    assert _outcome(BatchRequest, body, validate_json) == _outcome(BatchRequest, body, _reference)


@pytest.mark.parametrize("model", [Patient, BatchRequest])
def test_whole_floats_take_the_slow_path_and_are_accepted(model: Any) -> None:
    patient = {**EXAMPLE_PATIENT, "thal": 3.0, "sex": 1.0}
    body = json.dumps(patient if model is Patient else {"patients": [patient]}).encode()
    validated = validate_json(model, body)
    assert isinstance(validated, model)  # the public schema answered
    one = validated if model is Patient else validated.patients[0]
    assert (one.thal, one.sex) == (3, 1) and type(one.thal) is int
