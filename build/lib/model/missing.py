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

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

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
    """Each donor's sum over the observed features of squared standardised
    differences from x: (n,) for one row x (13,), (b, n) for rows x (b, 13)."""
    z = np.where(observed, x, 0.0) * donors.inv_scale  # (..., 13)
    diff = donors.scaled - z[..., None, :]  # (..., n, 13)
    diff *= observed[..., None, :]
    return np.einsum("...ji,...ji->...j", diff, diff)  # type: ignore[no-any-return]


def kernel_weights(
    sums: np.ndarray, n_observed: int | np.ndarray, bandwidth: float = BANDWIDTH
) -> np.ndarray:
    """The donors' weights from their distance sums over `n_observed`
    features (an int, or one per row of `sums` as a (b, 1) array), each row
    summing to 1 (all equal when nothing is observed or the bandwidth is inf)."""
    if np.isinf(bandwidth):
        return np.full(sums.shape, 1.0 / sums.shape[-1])
    # w_j = exp(-d_j^2 / (2 h^2)) / the nearest donor's, d^2 the mean over the observed
    # features; with nothing observed every sum is 0, every weight alike
    scale = 2.0 * np.maximum(n_observed, 1) * bandwidth**2
    excess = sums - sums.min(axis=-1, keepdims=True)  # the nearest donor's is 0
    limit = scale * -math.log(CUTOFF)  # w_j < CUTOFF beyond it
    if excess.shape[-1] > MAX_DONORS:  # the MAX_DONORS heaviest (and any tied with the last)
        kth = np.partition(excess, MAX_DONORS - 1, axis=-1)[..., MAX_DONORS - 1 : MAX_DONORS]
        limit = np.minimum(limit, kth)
    w = np.exp(excess / -scale)
    w[excess > limit] = 0.0
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


SUM_TOLERANCE = 1e-12
"""Relative rounding allowed in a cumulative weight: a sum of at most a few
thousand weights is within about 1e-13 of its exact value."""


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles of a weighted sample, by the inverted cumulative distribution:
    for each q the smallest value whose cumulative weight reaches q (a value
    of weight 3 counts as that value written three times). `values` and
    `weights` are one sample (s,), or one per row (r, s); the answer is
    (len(qs),) or (r, len(qs)). "Reaches" allows SUM_TOLERANCE: where the
    exact sum meets q exactly (20 members whose lowest is the same member
    for every donor: 0.05 x 20 = 1), rounding does not decide the answer."""
    order = np.argsort(values, axis=-1, kind="stable")
    v = np.take_along_axis(values, order, -1)
    cumulative = np.cumsum(np.take_along_axis(weights, order, -1), axis=-1)
    targets = np.asarray(qs) * cumulative[..., -1:] * (1.0 - SUM_TOLERANCE)
    below = (cumulative[..., :, None] < targets[..., None, :]).sum(axis=-2)  # first reaching
    return np.take_along_axis(v, np.minimum(below, v.shape[-1] - 1), -1)  # type: ignore[no-any-return]


class MissingRange(NamedTuple):
    """What measuring one missing feature could do to the probability."""

    field: int  # index in FEATURE_NAMES
    low: float  # weighted 5th percentile of p_k(v) over the plausible values v
    high: float  # weighted 95th percentile


def candidate_values(
    columns: np.ndarray, weights: np.ndarray, codes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(values, their probabilities), each (r, V): for each row of `columns`
    (r, s), a missing feature's donor values, weighted by `weights` (r, s),
    its plausible values. A numeric feature's are RANGE_POINTS weighted
    quantiles, equally likely; a coded one's are `codes` (V,), each as
    likely as the donors' weight on it (0 for a code no donor holds)."""
    if codes is None:
        qs = np.linspace(0.05, 0.95, RANGE_POINTS)
        values = weighted_quantiles(columns, weights, qs)
        return values, np.full(values.shape, 1.0 / RANGE_POINTS)
    mass = np.einsum("rs,rsc->rc", weights, columns[:, :, None] == codes)
    return np.broadcast_to(codes, mass.shape), mass / mass.sum(axis=1, keepdims=True)


class PartialAnswer(NamedTuple):
    probability: float  # sum_j w_j f(x_O, t_j,M)
    low: float  # the members' weighted 5th percentile over the donors
    high: float  # ... 95th
    ranges: tuple[MissingRange, ...]  # one per missing feature, FEATURE_NAMES order


CHUNK = 64
"""Rows answered together: bounds the memory one pass holds (for each
missing feature, rows x 19 values x n donors floats)."""


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
        self.codes = [np.unique(donors.rows[:, k]) if c else None for k, c in enumerate(coded)]
        self.bandwidth = bandwidth
        self.tails = np.array([(1 - level) / 2, (1 + level) / 2])

    def answers(self, X: np.ndarray) -> list[PartialAnswer]:
        """The answer for each raw row of X (b, 13), NaN where not measured.

        Vectorised across rows, CHUNK at a time: a few NumPy passes per
        chunk, each network run on the donors of nonzero weight only (a
        donor of weight 0 changes no weighted sum and no weighted quantile)."""
        out: list[PartialAnswer] = []
        for start in range(0, len(X), CHUNK):
            out += self._answers(X[start : start + CHUNK])
        return out

    def weighted_donors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(donor rows (J, 13), weights (J,)): the donors an answer for x
        averages over, those of weight 0 left out."""
        w = donor_weights(self.donors, x, ~np.isnan(x), self.bandwidth)
        kept = np.flatnonzero(w)
        return self.donors.rows[kept], w[kept]

    def _answers(self, X: np.ndarray) -> list[PartialAnswer]:
        b = len(X)
        weighed = _Weighed.of(self.donors, X, self.bandwidth)
        rows = np.where(weighed.observed[:, None], X[:, None], self.donors.rows[weighed.donor])
        probabilities = self.forward(rows.reshape(-1, X.shape[1])).reshape(*rows.shape[:2], -1)
        p = np.einsum("bj,bj->b", weighed.weight, probabilities[:, :, 0])
        m = probabilities.shape[2] - 1
        members, member_w = probabilities[:, :, 1:].reshape(b, -1), np.repeat(weighed.weight, m, 1)
        intervals = weighted_quantiles(members, member_w, self.tails)  # (b, 2)
        ranges: list[list[MissingRange]] = [[] for _ in X]
        for k in range(X.shape[1]):
            of = np.flatnonzero(~weighed.observed[:, k])
            if len(of):  # the rows missing k
                found = self._ranges(k, X, weighed, of)
                for i, (low, high) in zip(of.tolist(), found, strict=True):
                    ranges[i].append(MissingRange(k, low, high))
        return [
            PartialAnswer(prob, low, high, tuple(r))
            for prob, (low, high), r in zip(p.tolist(), intervals.tolist(), ranges, strict=True)
        ]

    def _ranges(self, k: int, X: np.ndarray, weighed: _Weighed, of: np.ndarray) -> list[Any]:
        """For rows `of` of X, each missing feature k: [low, high] of p_k(v)
        over k's plausible values v, all the rows' trials in one pass."""
        d = self.donors
        columns = d.rows[weighed.donor[of], k]  # (r, K)
        values, mass = candidate_values(columns, weighed.weight[of], self.codes[k])  # (r, V)
        extra = ((values[:, :, None] - d.rows[:, k]) * d.inv_scale[k]) ** 2  # (r, V, n)
        n_observed = weighed.n_observed[of][:, None, None] + 1
        w = kernel_weights(weighed.sums[of][:, None, :] + extra, n_observed, self.bandwidth)
        w[mass == 0.0] = 0.0  # a code no donor holds is not tried
        row, value, donor = np.nonzero(w)
        trial = np.where(weighed.observed[of[row]], X[of[row]], d.rows[donor])  # (T, 13)
        trial[:, k] = values[row, value]
        p = self.served(trial)
        r, v = values.shape
        p_k = np.bincount(row * v + value, w[row, value, donor] * p, r * v).reshape(r, v)
        return weighted_quantiles(p_k, mass, self.tails).tolist()  # type: ignore[no-any-return]


class _Weighed(NamedTuple):
    """Rows of X weighed against the donors, each row's donors of nonzero
    weight first (K of them, the most any row has; the rest weigh 0)."""

    observed: np.ndarray  # (b, 13)
    n_observed: np.ndarray  # (b,)
    sums: np.ndarray  # (b, n): distance sums over the observed features
    donor: np.ndarray  # (b, K): donor indices, heaviest first
    weight: np.ndarray  # (b, K): their weights

    @classmethod
    def of(cls, donors: Donors, X: np.ndarray, bandwidth: float) -> _Weighed:
        observed = ~np.isnan(X)
        n_observed = observed.sum(axis=1)
        sums = distance_sums(donors, X, observed)
        w = kernel_weights(sums, n_observed[:, None], bandwidth)
        heaviest = int((w > 0).sum(axis=1).max())
        donor = np.argsort(-w, axis=1, kind="stable")[:, :heaviest]
        return cls(observed, n_observed, sums, donor, np.take_along_axis(w, donor, 1))
