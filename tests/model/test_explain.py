"""Exact Shapley values (`model.explain`, through `Predictor.explain`),
held equal to shap's ExactExplainer on the same network and background, and
to the identities the method guarantees."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from model.artifact import load_artifact
from model.data import load_heart
from model.explain import ShapleyExplainer, shapley_weights
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.serving import Predictor
from tests.conftest import DATA


@pytest.fixture(scope="module")
def patients() -> np.ndarray:
    X, _ = load_heart(DATA)
    return X.to_numpy()


@pytest.mark.slow  # shap's exact explainer takes ~0.2 s a patient
def test_contributions_equal_shaps_exact_explainer(
    predictor: Predictor, patients: np.ndarray, artifact_path: Path
) -> None:
    with warnings.catch_warnings():  # shap's own imports may warn (numba, tqdm)
        warnings.simplefilter("ignore")
        import shap

    background = load_artifact(artifact_path).background
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.explainers.Exact(lambda Z: np.array(predictor.probabilities(Z)), masker)
    chosen = patients[np.random.default_rng(0).choice(len(patients), 30, replace=False)]
    odd = {**EXAMPLE_PATIENT, "age": 25, "serum_cholesterol": 550, "max_heart_rate": 210}
    rows = np.vstack([chosen, [[float(odd[f]) for f in FEATURE_NAMES]]])
    expected = explainer(rows)
    ours = predictor.explain(rows)
    for i, e in enumerate(ours):
        np.testing.assert_allclose(e.contributions, expected.values[i], rtol=0, atol=1e-9)
        assert e.base_value == pytest.approx(expected.base_values[i], abs=1e-9)


def test_efficiency_base_plus_contributions_is_the_probability(
    predictor: Predictor, patients: np.ndarray
) -> None:
    for e in predictor.explain(patients[:40]):
        total = e.base_value + sum(e.contributions)
        assert total == pytest.approx(e.assessment.probability, abs=1e-9)


def test_base_value_is_the_mean_probability_over_the_background(
    predictor: Predictor, artifact_path: Path, patients: np.ndarray
) -> None:
    background = load_artifact(artifact_path).background
    mean = float(np.mean(predictor.probabilities(background)))
    for e in predictor.explain(patients[:3]):
        assert e.base_value == pytest.approx(mean, abs=1e-12)


def test_a_feature_equal_to_every_background_value_contributes_nothing(
    predictor: Predictor, artifact_path: Path, patients: np.ndarray
) -> None:
    """Shapley's dummy axiom: where the patient's value equals the value of
    every background row, swapping it in changes no coalition's value."""
    background = load_artifact(artifact_path).background.copy()
    x = patients[7]
    background[:, [1, 5]] = x[[1, 5]]  # sex and fasting blood sugar as the patient's
    explainer = ShapleyExplainer.for_network(predictor.weights, background)
    base, contributions = explainer.explain(x)
    assert abs(contributions[1]) < 1e-15 and abs(contributions[5]) < 1e-15  # 0 but for rounding
    assert np.count_nonzero(contributions) >= 10
    assert base + contributions.sum() == pytest.approx(predictor.probabilities([x])[0], abs=1e-9)


def test_shapley_weights_sum_to_zero_and_give_the_marginal_for_additive_games() -> None:
    C = shapley_weights(13)
    np.testing.assert_allclose(C.sum(axis=1), 0.0, atol=1e-12)
    # an additive game v(S) = sum of a_i over S has phi_i = a_i exactly
    a = np.random.default_rng(0).normal(size=13)
    masks = (np.arange(2**13)[:, None] >> np.arange(13)) & 1
    np.testing.assert_allclose(C @ (masks @ a), a, atol=1e-12)
