"""Is this patient like the training data? Warnings, never refusals.

Two checks, both against figures stored in the artifact at training time:

- `outside_training_range`: a value inside the accepted clinical range
  (`model.features`) but outside the range seen in the training rows.
- `atypical_patient`: a combination of values unlike the training data,
  by the Mahalanobis distance to the training rows' mean under a
  Ledoit-Wolf shrinkage covariance (fitted on standardised rows, so that
  the shrinkage does not depend on units). Its threshold is chosen at
  training time so that about 1% of patients are flagged out-of-fold
  (`fit_reference`).

Serving needs NumPy only; `fit_reference` imports scikit-learn when called
(training time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from model.features import FEATURES

OUTSIDE_TRAINING_RANGE = "outside_training_range"
ATYPICAL_PATIENT = "atypical_patient"
MISSING_INPUT = "missing_input"
"""Not a check of this module: `model.serving` warns so for each feature not
measured (with some missing, `atypical_patient` is not checked: its distance
needs all 13 values)."""
FLAGGED_SHARE = 0.01
"""The share of patients the atypical-patient threshold flags out-of-fold."""


class PatientWarning(NamedTuple):
    """One warning of an answer: `field` is None for the whole patient."""

    code: str
    field: str | None
    message: str


class Reference(NamedTuple):
    """What the checks compare with: the training rows' range, mean and
    precision (inverse shrinkage covariance) in raw units, and the distance
    threshold."""

    minimum: np.ndarray  # (13,)
    maximum: np.ndarray  # (13,)
    mean: np.ndarray  # (13,)
    precision: np.ndarray  # (13, 13)
    threshold: float


def whitening(reference: Reference) -> tuple[np.ndarray, np.ndarray]:
    """(A, c) with |x @ A - c|^2 = the squared Mahalanobis distance of x: a
    linear map, so the predictor scores it in the same matrix product as
    the networks' first layers."""
    A = np.linalg.cholesky(reference.precision)  # precision = A @ A.T
    return A, reference.mean @ A


def mahalanobis(X: np.ndarray, reference: Reference) -> np.ndarray:
    """Distances of the rows of X (n, 13) to the training data."""
    centred = X - reference.mean
    return np.sqrt(np.einsum("ij,jk,ik->i", centred, reference.precision, centred))


class Checks:
    """The warnings of one patient, from its raw row and its Mahalanobis
    distance (which the predictor computes with the networks, `whitening`)."""

    def __init__(self, reference: Reference) -> None:
        self.threshold = reference.threshold
        self._minimum, self._maximum = reference.minimum, reference.maximum
        self._bounds = list(
            zip(FEATURES, reference.minimum.tolist(), reference.maximum.tolist(), strict=True)
        )

    def warnings_many(
        self, X: np.ndarray, distances: np.ndarray
    ) -> list[tuple[PatientWarning, ...]]:
        """`warnings` for each row of X (n, 13): the rows with nothing to say
        (nearly all) are found with NumPy, and only the others are looked at
        one by one."""
        outside = (self._minimum > X) | (self._maximum < X)
        flagged = np.flatnonzero(outside.any(axis=1) | (distances > self.threshold))
        found: list[tuple[PatientWarning, ...]] = [()] * len(X)
        for i in flagged.tolist():
            found[i] = self.warnings(X[i].tolist(), float(distances[i]))
        return found

    def warnings(self, row: Sequence[float], distance: float) -> tuple[PatientWarning, ...]:
        """The warnings of one patient's raw row (FEATURE_NAMES order)."""
        found = [
            _outside(feature.name, value, low, high, feature.unit)
            for (feature, low, high), value in zip(self._bounds, row, strict=True)
            if value < low or value > high
        ]
        if distance > self.threshold:
            found.append(
                PatientWarning(
                    ATYPICAL_PATIENT,
                    None,
                    f"This combination of values is unlike the training data: Mahalanobis "
                    f"distance {distance:.1f}, above the threshold {self.threshold:.1f} that "
                    f"flags about {FLAGGED_SHARE:.0%} of patients. Treat the estimate with "
                    "caution.",
                )
            )
        return tuple(found)


def _outside(field: str, value: float, low: float, high: float, unit: str | None) -> PatientWarning:
    units = f" {unit}" if unit else ""
    return PatientWarning(
        OUTSIDE_TRAINING_RANGE,
        field,
        f"{field} is {value:g}{units}, outside the training data's range "
        f"{low:g} to {high:g}{units}: the model has seen no such patient.",
    )


def fit_reference(
    X: np.ndarray, splits: Iterable[tuple[np.ndarray, np.ndarray]]
) -> tuple[Reference, dict[str, Any]]:
    """The reference of training rows X (n, 13), and what was measured.

    The threshold is the (1 - FLAGGED_SHARE) quantile of out-of-fold
    distances: for every (train, test) index pair of `splits`, mean and covariance are fitted
    on the training part and the held-out rows' distances are taken. The
    measured figures are that out-of-fold share (about FLAGGED_SHARE by
    construction) and the share of X itself flagged by the final fit.
    """
    oof = np.concatenate([mahalanobis(X[test], _fit(X[train], np.inf)) for train, test in splits])
    threshold = float(np.quantile(oof, 1 - FLAGGED_SHARE))
    reference = _fit(X, threshold)
    measured = {
        "threshold": threshold,
        "out_of_fold_flagged": float(np.mean(oof > threshold)),
        "training_rows_flagged": float(np.mean(mahalanobis(X, reference) > threshold)),
        "out_of_fold_distances": len(oof),
    }
    return reference, measured


def _fit(X: np.ndarray, threshold: float) -> Reference:
    from sklearn.covariance import LedoitWolf

    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    precision_std = LedoitWolf().fit((X - mean) / scale).precision_
    precision = precision_std / np.outer(scale, scale)  # back to raw units
    return Reference(X.min(axis=0), X.max(axis=0), mean, precision, threshold)
