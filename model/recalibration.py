"""A site's recalibration of the model's probabilities (`scripts.recalibrate`):

    p' = sigmoid(a + b logit(p)),

applied to the finished answer, whatever path made it (a complete patient,
an expectation over missing values, an interval end, a range of a missing
field, every coalition's value in an explanation): the intercept a and
slope b were fitted on those answers. It is increasing (b > 0 is checked),
so it keeps every order: intervals and ranges stay intervals. Recorded in
the artifact's metadata (`"recalibration"`), covered by its SHA-256.

Also the one fit of calibration's intercept and slope (Newton's method), which
`scripts.recalibrate`, the evaluations and `/monitoring` share.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from model.activations import sigmoid


class Recalibration(NamedTuple):
    intercept: float
    slope: float

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> Recalibration | None:
        """The artifact's recalibration, or None; ValueError if malformed."""
        record = metadata.get("recalibration")
        if record is None:
            return None
        a, b = record.get("intercept"), record.get("slope")
        if not all(type(v) is float and math.isfinite(v) for v in (a, b)) or b <= 0:
            raise ValueError("recalibration needs a finite intercept and a positive slope")
        return cls(a, b)

    def one(self, p: float) -> float:
        """`many` of one probability."""
        return float(self.many(np.array([p]))[0])

    def many(self, p: np.ndarray) -> np.ndarray:
        """sigmoid(a + b logit(p)) of each probability (an array): 1 stays 1
        (b > 0), and none goes below sigmoid(-700), as from the network."""
        with np.errstate(divide="ignore"):
            z = self.intercept + self.slope * (np.log(p) - np.log1p(-p))
        return sigmoid(z, out=z)

    @classmethod
    def fit(cls, y: np.ndarray, p: np.ndarray) -> Recalibration:
        """The (a, b) of the logistic regression y ~ a + b logit(p), by maximum likelihood."""
        y = np.asarray(y, dtype=np.float64)
        a, b = _newton(np.column_stack([np.ones(len(y)), _logit(p)]), y, np.zeros(len(y)))
        return cls(float(a), float(b))


def calibration_intercept_slope(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration-in-the-large and the calibration slope of P(presence):
    the intercept a of y ~ a + logit(p) (logit(p) as an offset; 0 when the
    probabilities are right on average) and the slope b of y ~ c + b logit(p)
    (1 when they are neither too extreme, b < 1, nor too timid, b > 1)."""
    y = np.asarray(y, dtype=np.float64)
    intercept = _newton(np.ones((len(y), 1)), y, _logit(p))[0]
    return float(intercept), Recalibration.fit(y, p).slope


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(q) - np.log1p(-q)  # type: ignore[no-any-return]


def _newton(A: np.ndarray, y: np.ndarray, offset: np.ndarray, steps: int = 100) -> np.ndarray:
    """Maximum-likelihood coefficients of y ~ A beta + offset (logistic)."""
    beta = np.zeros(A.shape[1])
    for _ in range(steps):
        mu = sigmoid(A @ beta + offset)
        gradient = A.T @ (y - mu)
        hessian = (A * (mu * (1 - mu))[:, None]).T @ A
        step = np.linalg.solve(hessian + 1e-12 * np.eye(A.shape[1]), gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta
