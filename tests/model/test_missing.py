"""The maths of answers with measurements missing (`model.missing`) and of
calibration (`model.recalibration.calibration_intercept_slope`), each against
an independent oracle."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression

from model.missing import (
    CUTOFF,
    MAX_DONORS,
    Donors,
    MissingValues,
    candidate_values,
    completed,
    donor_weights,
    weighted_quantiles,
)
from model.recalibration import calibration_intercept_slope


@pytest.fixture
def donors() -> Donors:
    rows = np.random.default_rng(0).normal(50, 10, size=(40, 13))
    return Donors.of(rows, rows.std(axis=0))


def test_donor_weights_are_the_kernel_of_the_observed_distance(donors: Donors) -> None:
    x = donors.rows[3] + 1.0
    observed = np.zeros(13, dtype=bool)
    observed[[0, 4, 7]] = True
    w = donor_weights(donors, x, observed, bandwidth=0.5)
    scale = 1.0 / donors.inv_scale
    expected = []
    for row in donors.rows:  # one donor at a time, as the docstring's formula says
        d2 = sum(((x[i] - row[i]) / scale[i]) ** 2 for i in (0, 4, 7)) / 3
        expected.append(math.exp(-d2 / (2 * 0.5**2)))
    kept = [e if e >= CUTOFF * max(expected) else 0.0 for e in expected]
    heaviest = sorted(kept, reverse=True)[MAX_DONORS - 1]
    kept = [e if e >= heaviest else 0.0 for e in kept]
    assert 0 < kept.count(0.0) < len(kept)  # the cut-offs are exercised
    np.testing.assert_allclose(w, np.array(kept) / sum(kept), rtol=1e-12, atol=0)
    assert w.sum() == pytest.approx(1.0, abs=1e-15) and w.argmax() == 3


def test_nothing_observed_or_an_infinite_bandwidth_weighs_all_alike(donors: Donors) -> None:
    x = donors.rows[0]
    nothing = np.zeros(13, dtype=bool)
    assert np.all(donor_weights(donors, x, nothing) == 1 / 40)
    assert np.all(donor_weights(donors, x, ~nothing, math.inf) == 1 / 40)


def test_completed_rows_keep_the_measured_values_and_take_the_donors_others(
    donors: Donors,
) -> None:
    x = np.full(13, np.nan)
    x[[1, 2]] = (7.0, 8.0)
    observed = ~np.isnan(x)
    rows = completed(donors, x, observed)
    assert np.all(rows[:, 1] == 7.0) and np.all(rows[:, 2] == 8.0)
    np.testing.assert_array_equal(rows[:, 3:], donors.rows[:, 3:])
    assert not np.isnan(donors.rows).any()  # the donors themselves are untouched


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weighted_quantiles_are_numpys_inverted_cdf(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values, weights = rng.normal(size=57), rng.random(57)
    qs = np.array([0.0, 0.05, 0.25, 0.5, 0.95, 1.0])
    got = weighted_quantiles(values, weights, qs)
    oracle = np.quantile(values, qs, method="inverted_cdf", weights=weights)
    np.testing.assert_array_equal(got, oracle)


def test_weighted_quantiles_equal_repeated_values() -> None:
    """Weight 3 is the same as the value written three times."""
    values, weights = np.array([1.0, 2.0, 5.0]), np.array([1.0, 3.0, 1.0])
    repeated = np.array([1.0, 2.0, 2.0, 2.0, 5.0])
    qs = np.array([0.3, 0.5, 0.7])
    np.testing.assert_allclose(
        weighted_quantiles(values, weights, qs), weighted_quantiles(repeated, np.ones(5), qs)
    )


def test_candidate_values_of_a_coded_feature_are_its_codes_with_their_weight() -> None:
    column = np.array([[3.0, 7.0, 3.0, 6.0]])
    codes = np.array([3.0, 6.0, 7.0, 9.0])
    values, mass = candidate_values(column, np.array([[0.1, 0.2, 0.3, 0.4]]), codes)
    assert values.tolist() == [[3.0, 6.0, 7.0, 9.0]]
    np.testing.assert_allclose(mass, [[0.4, 0.4, 0.2, 0.0]])


def test_weighted_quantiles_of_rows_are_each_rows_own() -> None:
    rng = np.random.default_rng(4)
    values, weights = rng.normal(size=(6, 30)), rng.random((6, 30))
    weights[2, ::2] = 0.0  # weight 0 changes nothing
    qs = np.array([0.05, 0.5, 0.95])
    got = weighted_quantiles(values, weights, qs)
    for r in range(6):
        oracle = np.quantile(values[r], qs, method="inverted_cdf", weights=weights[r])
        np.testing.assert_array_equal(got[r], oracle)


def test_a_quantile_met_exactly_by_a_sum_does_not_depend_on_rounding() -> None:
    """Ten values of weight 0.1: the 30% quantile is the third, however the
    cumulative sum 0.1 + 0.1 + 0.1 rounds (it is 0.30000000000000004)."""
    values = np.arange(10.0)
    assert weighted_quantiles(values, np.full(10, 0.1), np.array([0.3])).tolist() == [2.0]
    assert weighted_quantiles(values, np.ones(10), np.array([0.3])).tolist() == [2.0]


def _one_at_a_time(mv: MissingValues, x: np.ndarray) -> tuple[float, float, float, list[Any]]:
    """One row's answer as the module docstring states it: every donor
    weighed, completed and run through the networks, one feature at a time."""
    d, observed = mv.donors, ~np.isnan(x)
    w = donor_weights(d, x, observed)
    rows = completed(d, x, observed)
    probabilities = mv.forward(rows)
    m = probabilities.shape[1] - 1
    low, high = weighted_quantiles(probabilities[:, 1:].ravel(), np.repeat(w, m), mv.tails)
    ranges = []
    for k in np.flatnonzero(~observed):
        values, mass = candidate_values(d.rows[None, :, k], w[None], mv.codes[k])
        p_k = []
        for v in values[0]:
            x_v = x.copy()
            x_v[k] = v
            w_v = donor_weights(d, x_v, ~np.isnan(x_v))
            p_k.append(w_v @ mv.served(completed(d, x_v, ~np.isnan(x_v))))
        ranges.append((k, *weighted_quantiles(np.array(p_k), mass[0], mv.tails)))
    return float(w @ probabilities[:, 0]), float(low), float(high), ranges


def test_answers_across_a_batch_equal_the_formula_row_by_row() -> None:
    rng = np.random.default_rng(5)
    A = rng.normal(size=(13, 4)) / 40

    def forward(rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(rows - 50.0) @ A))  # (n, 1 + 3 members)

    rows = rng.normal(50, 10, size=(40, 13))
    rows[:, [1, 12]] = rng.choice([0.0, 1.0, 2.0], size=(40, 2))  # two coded features
    donors = Donors.of(rows, rows.std(axis=0))
    coded = [k in (1, 12) for k in range(13)]
    mv = MissingValues(forward, lambda r: forward(r)[:, 0], donors, coded, 0.9)
    X = rng.normal(50, 10, size=(70, 13))  # more than one CHUNK
    X[:, [1, 12]] = rng.choice([0.0, 1.0, 2.0], size=(70, 2))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[0] = np.nan  # nothing measured
    X[1, :12] = donors.rows[7, :12]  # a donor's own values
    for got, x in zip(mv.answers(X), X, strict=True):
        p, low, high, ranges = _one_at_a_time(mv, x)
        np.testing.assert_allclose([got.probability, got.low, got.high], [p, low, high], atol=1e-13)
        assert [r.field for r in got.ranges] == [r[0] for r in ranges]
        np.testing.assert_allclose([r[1:] for r in got.ranges], [r[1:] for r in ranges], atol=1e-13)


def test_calibration_of_a_calibrated_sample_is_zero_and_one() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.02, 0.98, size=20000)
    y = (rng.random(20000) < p).astype(float)
    intercept, slope = calibration_intercept_slope(y, p)
    assert abs(intercept) < 0.05 and abs(slope - 1) < 0.05


def test_calibration_matches_scikit_learn_and_scipy() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, size=500)
    y = (rng.random(500) < p**2).astype(float)  # miscalibrated on purpose
    intercept, slope = calibration_intercept_slope(y, p)
    logit = np.log(p / (1 - p))
    oracle = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit[:, None], y)
    assert slope == pytest.approx(oracle.coef_[0, 0], abs=1e-5)

    def negative_log_likelihood(a: float) -> float:
        z = a + logit
        return float(np.sum(np.logaddexp(0, z) - y * z))

    best = minimize_scalar(negative_log_likelihood, bounds=(-5, 5), method="bounded",
                           options={"xatol": 1e-10})  # fmt: skip
    assert intercept == pytest.approx(best.x, abs=1e-5)
    assert intercept < 0 and slope > 1  # y is rarer than p says, and p**2 spreads further
