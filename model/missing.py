"""Answers with measurements missing: the model's expectation over the
unmeasured features given the measured ones, NumPy only.

For a patient x whose features O are measured and M are not, every training
patient t_j is a donor: its values on M complete x, and its weight says how
like x it is on O,

    w_j  proportional to  exp(-d_j^2 / (2 h^2)),
    d_j^2 = mean over i in O of ((x_i - t_ji) / s_i)^2

(s the training standard deviations, h = BANDWIDTH; a weight under CUTOFF
times the largest is 0). The probability is

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

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

BANDWIDTH = 0.5
"""h, in training standard deviations (chosen by cross-validation, see above)."""

CUTOFF = 1e-3
"""A donor whose kernel is below this fraction of the nearest donor's gets
weight 0: it changes no answer visibly, and an explanation then averages over
tens of donors rather than all (the evaluation uses the same weights)."""

MAX_DONORS = 16
"""At most this many donors (the heaviest) carry weight: an explanation's
cost grows with them (chosen with the bandwidth, by cross-validation)."""

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


def distance_sums(donors: Donors, x: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n,): each donor's sum over the observed features of squared
    standardised differences from x."""
    diff = donors.scaled[:, observed] - x[observed] * donors.inv_scale[observed]
    return np.einsum("ij,ij->i", diff, diff)  # type: ignore[no-any-return]


def kernel_weights(sums: np.ndarray, n_observed: int, bandwidth: float = BANDWIDTH) -> np.ndarray:
    """The donors' weights from their distance sums over `n_observed`
    features, (n,) or (V, n), each row summing to 1 (all equal when nothing
    is observed or the bandwidth is inf)."""
    if n_observed == 0 or np.isinf(bandwidth):
        return np.full(sums.shape, 1.0 / sums.shape[-1])
    logw = sums / (-2.0 * n_observed * bandwidth**2)  # -d^2 / (2 h^2), d^2 the mean
    w = np.exp(logw - logw.max(axis=-1, keepdims=True))  # the nearest donor's is 1
    w[w < CUTOFF] = 0.0
    if w.shape[-1] > MAX_DONORS:  # the MAX_DONORS heaviest (and any tied with the last)
        kth = -np.partition(-w, MAX_DONORS - 1, axis=-1)[..., MAX_DONORS - 1 : MAX_DONORS]
        w[w < kth] = 0.0
    return w / w.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def donor_weights(
    donors: Donors, x: np.ndarray, observed: np.ndarray, bandwidth: float = BANDWIDTH
) -> np.ndarray:
    """w (n,), summing to 1: each donor's likeness to x on the observed features."""
    n_observed = int(observed.sum())
    return kernel_weights(distance_sums(donors, x, observed), n_observed, bandwidth)


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


class PartialAnswer(NamedTuple):
    probability: float  # sum_j w_j f(x_O, t_j,M)
    low: float  # the members' weighted 5th percentile over the donors
    high: float  # ... 95th
    ranges: tuple[MissingRange, ...]  # one per missing feature, FEATURE_NAMES order


class MissingValues:
    """Answers for raw rows with NaN where a feature was not measured.

    `forward` maps raw rows (n, 13) to the served network's and the members'
    probabilities (n, 1 + m) (`model.ensemble.WideNetwork`); `served` maps
    them to the served network's alone (n,), which the ranges need (many
    rows, one network)."""

    def __init__(
        self,
        forward: Callable[[np.ndarray], np.ndarray],
        served: Callable[[np.ndarray], np.ndarray],
        donors: Donors,
        coded: Sequence[bool],
        level: float,
        bandwidth: float = BANDWIDTH,
    ) -> None:
        self.forward, self.served, self.donors = forward, served, donors
        self.coded, self.bandwidth = list(coded), bandwidth
        self.tails = np.array([(1 - level) / 2, (1 + level) / 2])

    def answer(self, x: np.ndarray) -> PartialAnswer:
        observed, sums, w = self._weigh(x)
        rows = completed(self.donors, x, observed)
        probabilities = self.forward(rows)  # (n, 1 + m)
        p = float(w @ probabilities[:, 0])
        members = probabilities[:, 1:]
        m = members.shape[1]
        low, high = weighted_quantiles(members.ravel(), np.repeat(w, m), self.tails).tolist()
        ranges = tuple(
            self._range(k, rows, w, sums, int(observed.sum()))
            for k in np.flatnonzero(~observed).tolist()
        )
        return PartialAnswer(p, low, high, ranges)

    def weighted_donors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(donor rows (J, 13), weights (J,)): the donors an answer for x
        averages over, those of weight 0 left out."""
        w = self._weigh(x)[2]
        kept = np.flatnonzero(w)
        return self.donors.rows[kept], w[kept]

    def _weigh(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(observed mask, the donors' distance sums, their weights) for x."""
        observed = ~np.isnan(x)
        sums = distance_sums(self.donors, x, observed)
        return observed, sums, kernel_weights(sums, int(observed.sum()), self.bandwidth)

    def _range(
        self, k: int, rows: np.ndarray, w: np.ndarray, sums: np.ndarray, n_observed: int
    ) -> MissingRange:
        """What measuring feature k could do: p_k(v) at its plausible values v."""
        d = self.donors
        values, mass = candidate_values(d.rows[:, k], w, self.coded[k])
        extra = ((values[:, None] - d.rows[None, :, k]) * d.inv_scale[k]) ** 2  # (V, n)
        weights = kernel_weights(sums[None, :] + extra, n_observed + 1, self.bandwidth)
        trial = np.repeat(rows[None], len(values), axis=0)  # (V, n, 13)
        trial[:, :, k] = values[:, None]
        p = self.served(trial.reshape(-1, rows.shape[1])).reshape(len(values), -1)
        p_k = np.einsum("vj,vj->v", weights, p)
        low, high = weighted_quantiles(p_k, mass, self.tails).tolist()
        return MissingRange(k, low, high)
