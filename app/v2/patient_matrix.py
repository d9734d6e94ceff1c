"""Patients sent as a matrix (n x 13 numbers, FEATURE_NAMES order), as the
Open Inference Protocol (V2) sends them: validated against `Patient`, the
one patient schema (`app.api.schemas`), quickly."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from pydantic import ValidationError

from app.api.schemas import WHOLE_NUMBER_FIELDS, Patient, describe_error
from model.features import FEATURE_NAMES, FEATURES, Feature


class RowError(ValueError):
    """Row `row` of a matrix is not a valid patient: `field` and why."""

    def __init__(self, row: int, field: str, message: str) -> None:
        super().__init__(f"row {row}, field {field}: {message}")
        self.row, self.field, self.message = row, field, message


class _Column(NamedTuple):
    low: float
    high: float
    whole: bool
    codes: frozenset[float] | None  # only for codes with gaps (else the range says it)


def _column(f: Feature) -> _Column:
    codes = sorted(f.codes or ())
    contiguous = codes == list(range(codes[0], codes[-1] + 1)) if codes else True
    low = codes[0] if codes else f.minimum
    high = codes[-1] if codes else f.maximum
    return _Column(
        -np.inf if low is None else float(low),
        np.inf if high is None else float(high),
        f.name in WHOLE_NUMBER_FIELDS,
        None if contiguous else frozenset(map(float, codes)),
    )


_COLUMNS = tuple(_column(f) for f in FEATURES)
_LOW = np.array([c.low for c in _COLUMNS])
_HIGH = np.array([c.high for c in _COLUMNS])
_WHOLE = np.array([c.whole for c in _COLUMNS])
_GAPPED = [(i, np.array(sorted(c.codes))) for i, c in enumerate(_COLUMNS) if c.codes]


def validated_matrix(matrix: np.ndarray) -> np.ndarray:
    """`matrix` (n x 13 float64, FEATURE_NAMES order) when every row is a
    valid `Patient`, else RowError for the first row that is not, with
    Patient's own message.

    Patient is the authority; validating each row with it is slow
    (docs/performance.md), so a quick check (ranges, whole numbers, codes; vectorised, or in
    plain Python for one row, where NumPy's per-call cost dominates) clears
    the rows first, and only a row it doubts is given to Patient. The check
    never passes a row Patient refuses (tests/app/test_schemas.py holds the
    two equal on random and edge-case rows).
    """
    if len(matrix) == 1:
        values = matrix[0].tolist()
        if not _plausible(values):
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


def _plausible(values: list[float]) -> bool:
    """The quick check of `validated_matrix`, for one row."""
    return all(
        c.low <= v <= c.high and (not c.whole or v == int(v)) and (c.codes is None or v in c.codes)
        for v, c in zip(values, _COLUMNS, strict=True)
    )


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
