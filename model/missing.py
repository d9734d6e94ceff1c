"""Answers with measurements missing: the model's expectation over the
unmeasured features given the measured ones, NumPy only.

For a patient x whose features O are measured and M are not, every training
patient t_j is a donor: its values on M complete x, and its weight says how
like x it is on O,

    w_j  proportional to  exp(-d_j^2 / (2 h^2)),
    d_j^2 = mean over i in O of ((x_i - t_ji) / s_i)^2

(s the training standard deviations, h = BANDWIDTH). The probability is

    p(x) = sum_j w_j f(x_O, t_j,M),

the network's answer averaged over the unmeasured values as they occur in
patients like this one: never a fill-in value. With nothing missing, none
of this runs (`model.serving` answers as it always did). The bandwidth was
chosen on heart.dat alone, by cross-validation with missingness simulated
in the test folds (`scripts/evaluate_missing.py`, reports/evaluation.md).

What measuring a missing feature k could do: its plausible values are the
donors' values of k, weighted by w; for each value v the answer would be
p_k(v) = sum_j w_j(v) f(x_O, v, t_j,M-k), with weights that now compare k
too. The range reported is the weighted 5th to 95th percentile of p_k(v).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BANDWIDTH = 0.25
"""h, in training standard deviations (chosen by cross-validation, see above)."""

RANGE_POINTS = 19
"""A numeric missing feature's plausible values are tried at this many
weighted quantiles (5%, 10%, ..., 95%) of the donors' values; a coded one
at each of its codes the donors hold."""


class Donors(NamedTuple):
    """The training rows (raw units) and what weighing them needs."""

    rows: np.ndarray  # (n, 13)
    scaled: np.ndarray  # (n, 13): rows / scale
    inv_scale: np.ndarray  # (13,)

    @classmethod
    def of(cls, rows: np.ndarray, scale: np.ndarray) -> Donors:
        inv_scale = 1.0 / np.asarray(scale, dtype=np.float64)
        rows = np.asarray(rows, dtype=np.float64)
        return cls(rows, rows * inv_scale, inv_scale)


def donor_weights(
    donors: Donors, x: np.ndarray, observed: np.ndarray, bandwidth: float = BANDWIDTH
) -> np.ndarray:
    """w (n,), summing to 1: each donor's likeness to x on the observed
    features (all equal when nothing is observed or the bandwidth is inf)."""
    n = len(donors.rows)
    if not observed.any() or np.isinf(bandwidth):
        return np.full(n, 1.0 / n)
    diff = donors.scaled[:, observed] - x[observed] * donors.inv_scale[observed]
    d2 = np.einsum("ij,ij->i", diff, diff) / observed.sum()
    logw = -0.5 * d2 / bandwidth**2
    w = np.exp(logw - logw.max())  # the nearest donor has weight 1 before normalising
    return w / w.sum()  # type: ignore[no-any-return]


def completed(donors: Donors, x: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n, 13): every donor's row with x's measured values put in."""
    rows = donors.rows.copy()
    rows[:, observed] = x[observed]
    return rows


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles of a weighted sample, by the inverted cumulative distribution:
    for each q the smallest value whose cumulative weight reaches q (a value
    of weight 3 counts as that value written three times)."""
    order = np.argsort(values, kind="stable")
    v, cumulative = values[order], np.cumsum(weights[order])
    positions = np.searchsorted(cumulative, np.asarray(qs) * cumulative[-1], side="left")
    return v[np.minimum(positions, len(v) - 1)]  # type: ignore[no-any-return]


class MissingRange(NamedTuple):
    """What measuring one missing feature could do to the probability."""

    field: int  # index in FEATURE_NAMES
    low: float  # weighted 5th percentile of p_k(v) over the plausible values v
    high: float  # weighted 95th percentile


def candidate_values(
    column: np.ndarray, weights: np.ndarray, coded: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(values, their probabilities): a missing feature's plausible values
    given the measured ones, from the donors."""
    if coded:
        codes = np.unique(column)
        mass = np.array([weights[column == c].sum() for c in codes])
        keep = mass > 0
        return codes[keep], mass[keep] / mass[keep].sum()
    qs = np.linspace(0.05, 0.95, RANGE_POINTS)
    return weighted_quantiles(column, weights, qs), np.full(RANGE_POINTS, 1.0 / RANGE_POINTS)
