"""The request schemas, below HTTP: `validate_json` accepts what the
published JSON Schema accepts (3.0 for 3 included), and V2's matrix check
refuses what a Patient refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.api.schemas import BatchRequest, Patient, describe_error, validate_json
from app.v2.patient_matrix import RowError, validated_matrix
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


def _oracle(model: Any) -> Any:
    """The independent judge: the published JSON Schema of `model`, read by
    `jsonschema` (for which 3.0 is an integer, as for JSON Schema itself)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(model.model_json_schema())


def _agrees(model: Any, document: Any) -> None:
    """validate_json accepts `document` exactly when its schema does, and
    then with the values sent; a refusal names a field the schema refuses."""
    body = json.dumps(document).encode()
    valid = _oracle(model).is_valid(document)
    try:
        validated = validate_json(model, body)
    except ValidationError as exc:
        assert not valid, exc
        return
    assert valid, document
    assert validated.model_dump() == document  # 3.0 == 3: the same numbers


@settings(max_examples=300, deadline=None)
@given(patient=_PATIENT)
def test_validate_json_accepts_what_the_published_schema_does(patient: dict[str, Any]) -> None:
    _agrees(Patient, patient)


@settings(max_examples=100, deadline=None)
@given(patients=st.lists(_PATIENT, min_size=0, max_size=4))
def test_validate_json_accepts_batches_as_the_published_schema_does(
    patients: list[dict[str, Any]],
) -> None:
    _agrees(BatchRequest, {"patients": patients})


@pytest.mark.parametrize("model", [Patient, BatchRequest])
def test_whole_floats_are_taken_for_integers(model: Any) -> None:
    patient = {**EXAMPLE_PATIENT, "thal": 3.0, "sex": 1.0}
    body = json.dumps(patient if model is Patient else {"patients": [patient]}).encode()
    validated = validate_json(model, body)
    assert isinstance(validated, model)
    one = validated if model is Patient else validated.patients[0]
    assert (one.thal, one.sex) == (3, 1) and type(one.thal) is int


def _edges(f: Any) -> list[float]:
    """Values at, inside and just outside feature f's limits or codes."""
    if f.codes is not None:
        codes = sorted(f.codes)
        return [*codes, codes[0] - 1, codes[-1] + 1, codes[0] + 0.5, 5.0, 0.0, -0.0]
    low, high = f.minimum, f.maximum
    return [low, high, low - 1e-9, high + 1e-9, (low + high) / 2, (low + high) / 2 + 0.5, -1.0]


_NUMBER = st.one_of(
    st.floats(min_value=-5, max_value=1100, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 1.0000000000000002, 2.6e-42]),
)
_ROW = st.tuples(*(st.one_of(st.sampled_from(_edges(f)), _NUMBER) for f in FEATURES)).map(list)


def _first_refused(matrix: list[list[float]]) -> tuple[int, str] | None:
    """The oracle: each row validated as a Patient (whole floats as ints, as
    a JSON client would send them); the first refused row and its message."""
    for i, values in enumerate(matrix):
        record = {
            f.name: int(v) if math.isfinite(v) and float(v).is_integer() else v
            for f, v in zip(FEATURES, values, strict=True)
        }
        try:
            Patient.model_validate(record)
        except ValidationError as exc:
            e = exc.errors(include_url=False)[0]
            return i, describe_error(str(e["loc"][-1]), e["type"], e["msg"])[1]
    return None


@settings(max_examples=400, deadline=None)
@given(matrix=st.lists(_ROW, min_size=1, max_size=5))
def test_validated_matrix_refuses_exactly_what_patient_refuses(matrix: list[list[float]]) -> None:
    expected = _first_refused(matrix)
    try:
        validated_matrix(np.array(matrix, dtype=np.float64))
        found = None
    except RowError as exc:
        found = (exc.row, exc.message)
    assert found == expected


def test_validated_matrix_checks_every_row_of_a_large_batch() -> None:
    row = [float(EXAMPLE_PATIENT[f.name]) for f in FEATURES]
    matrix = np.array([row] * 500)
    assert validated_matrix(matrix) is matrix
    matrix[317, 12] = 5.0  # thal: codes 3, 6, 7 (a gap, not a range)
    with pytest.raises(RowError) as caught:
        validated_matrix(matrix)
    assert (caught.value.row, caught.value.field) == (317, "thal")
    assert "3 (normal)" in caught.value.message
