"""Patients sent as a matrix (n x 13 numbers, FEATURE_NAMES order), as the
Open Inference Protocol (V2) sends them: validated against `Patient`, the
one patient schema (`app.api.schemas`), quickly."""

from __future__ import annotations

import numpy as np
from pydantic import ValidationError

from app.api.schemas import Patient, describe_error
from model.features import FEATURE_NAMES, FEATURES


class RowError(ValueError):
    """Row `row` of a matrix is not a valid patient: `field` and why."""

    def __init__(self, row: int, field: str, message: str) -> None:
        super().__init__(f"row {row}, field {field}: {message}")
        self.row, self.field, self.message = row, field, message


_LOW = np.array([f.bounds[0] for f in FEATURES])
_HIGH = np.array([f.bounds[1] for f in FEATURES])
_WHOLE = np.array([f.whole for f in FEATURES])
_GAPPED = [
    (i, np.array(sorted(f.codes or ()), dtype=float)) for i, f in enumerate(FEATURES) if f.gaps
]


def validated_matrix(matrix: np.ndarray) -> np.ndarray:
    """`matrix` (n x 13 float64, FEATURE_NAMES order) when every row is a
    valid `Patient`, else RowError for the first row that is not, with
    Patient's own message.

    Patient is the authority; validating each row with it is slow
    (docs/performance.md), so the features' own rules (`Feature.accepts`,
    vectorised from its bounds, wholeness and codes; in plain Python for one
    row, where NumPy's per-call cost dominates) clear the rows first, and
    only a row they doubt is given to Patient, whose message is reported
    (tests/app/test_schemas.py holds the two equal on random and edge-case
    rows).
    """
    if len(matrix) == 1:
        values = matrix[0].tolist()
        if not all(f.accepts(v) for f, v in zip(FEATURES, values, strict=True)):
            _check_row(0, values)
        return matrix
    with np.errstate(invalid="ignore"):
        ok = ((matrix >= _LOW) & (matrix <= _HIGH)).all(axis=1)
        ok &= (matrix[:, _WHOLE] == np.floor(matrix[:, _WHOLE])).all(axis=1)
    for column, codes in _GAPPED:
        ok &= np.isin(matrix[:, column], codes)
    for i in np.flatnonzero(~ok).tolist():
        _check_row(i, matrix[i].tolist())
    return matrix


def _check_row(i: int, values: list[float]) -> None:
    """RowError unless `values` is a valid Patient."""
    record = {
        f: int(v) if v.is_integer() else v  # False for NaN and infinities
        for f, v in zip(FEATURE_NAMES, values, strict=True)
    }
    try:
        Patient.model_validate(record)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        field = str(e["loc"][-1]) if e["loc"] else ""
        raise RowError(i, field, describe_error(field, e["type"], e["msg"])[1]) from None
