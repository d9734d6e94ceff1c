"""The wide network (served network + ensemble + whitening in one product)
against each network's own forward pass, and the interval against
`np.percentile`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.artifact import load_artifact
from model.ensemble import percentile_interval
from model.propagation import forward
from model.serving import Predictor, fold_scaler
from model.typicality import mahalanobis
from tests.tolerances import assert_probabilities_close


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(3).normal(120, 60, size=(300, 13))


def test_interval_is_the_5th_and_95th_percentile_of_the_members(
    artifact_path: Path, rows: np.ndarray
) -> None:
    artifact = load_artifact(artifact_path)
    scaled = (rows - artifact.scaler_mean) / artifact.scaler_scale
    members = np.hstack([forward(m, scaled)[0] for m in artifact.members])  # (n, m)
    low, high = np.percentile(members, [5, 95], axis=1)
    answers = Predictor(artifact).assess(rows)
    assert_probabilities_close([a.low for a in answers], low)
    assert_probabilities_close([a.high for a in answers], high)
    assert all(a.low <= a.high for a in answers)


def test_served_probability_is_the_served_network_alone(
    artifact_path: Path, rows: np.ndarray
) -> None:
    predictor = Predictor(load_artifact(artifact_path))
    answers = predictor.assess(rows)
    assert_probabilities_close([a.probability for a in answers], predictor.probabilities(rows))


def test_one_row_agrees_with_many(artifact_path: Path, rows: np.ndarray) -> None:
    predictor = Predictor(load_artifact(artifact_path))
    many = predictor.assess(rows[:50])
    for row, a in zip(rows[:50].tolist(), many, strict=True):
        (one,) = predictor.assess([row])
        assert_probabilities_close(one.probability, a.probability)
        assert_probabilities_close((one.low, one.high), (a.low, a.high))
        assert one.warnings == a.warnings


@pytest.mark.parametrize("m", [2, 3, 20, 21, 100])
def test_percentile_interval_matches_numpy(m: int) -> None:
    members = np.random.default_rng(m).random((40, m))
    low, high = percentile_interval(members)
    np.testing.assert_allclose(low, np.percentile(members, 5, axis=1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(high, np.percentile(members, 95, axis=1), rtol=1e-13, atol=1e-15)
    for i in range(3):  # one row as a list takes the plain-Python arithmetic, to the bit
        assert percentile_interval(members[i].tolist()) == (low[i], high[i])


def test_distances_ride_in_the_wide_product_and_equal_an_independent_oracle(
    artifact_path: Path, rows: np.ndarray
) -> None:
    from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

    artifact = load_artifact(artifact_path)
    reference = artifact.reference
    ours = mahalanobis(rows, reference)
    oracle = [scipy_mahalanobis(r, reference.mean, reference.precision) for r in rows]
    np.testing.assert_allclose(ours, oracle, rtol=1e-9)
    # assess flags exactly the rows whose distance is above the threshold
    flagged = [
        any(w.code == "atypical_patient" for w in a.warnings)
        for a in Predictor(artifact).assess(rows)
    ]
    assert flagged == list(ours > reference.threshold)


def test_fold_scaler_gives_the_network_on_raw_rows(artifact_path: Path, rows: np.ndarray) -> None:
    artifact = load_artifact(artifact_path)
    scaled = (rows - artifact.scaler_mean) / artifact.scaler_scale
    for member in artifact.members[:3]:
        folded = fold_scaler(member, artifact.scaler_mean, artifact.scaler_scale)
        assert_probabilities_close(forward(folded, rows)[0], forward(member, scaled)[0])
