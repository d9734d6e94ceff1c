"""The serving path (`model.serving.Predictor`): the same probabilities as the
trained network, whichever path it picks, and a self-test that checks both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.artifact import load_artifact
from model.data import load_heart
from model.propagation import forward
from model.serving import Predictor
from tests.artifact_helpers import copy_artifact, read_payload, write_with_matching_hash
from tests.conftest import DATA, ROOT
from tests.tolerances import assert_probabilities_close


def test_serving_path_matches_the_trained_network(artifact_path: Path) -> None:
    """The scaler folded into W1/b1 gives the probabilities of scaler + NeuralNet."""
    payload = read_payload(artifact_path)
    X, _ = load_heart(DATA)
    raw = X.to_numpy()
    from model import NeuralNet  # the estimator's own predict_proba, on scaled inputs

    net = NeuralNet()
    net.weights_ = payload["weights"]
    net.classes_ = np.array([0, 1])
    net.n_features_in_ = 13
    expected = net.predict_proba(payload["scaler"].transform(raw))[:, 1]
    got = Predictor(load_artifact(artifact_path)).probabilities(raw)
    assert_probabilities_close(got, expected)


def test_loading_imports_neither_sklearn_nor_pandas(artifact_path: Path) -> None:
    code = (
        "import sys; from model.artifact import load_artifact; from model.serving import Predictor;"
        f"p = Predictor(load_artifact({str(artifact_path)!r})); assert p.self_test() is None;"
        "print(sorted(m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_serving_equals_the_training_forward(predictor: Predictor) -> None:
    X = np.random.default_rng(0).normal(100, 50, size=(500, 13))
    expected = forward(predictor.weights, X)[0][:, 0]
    np.testing.assert_array_equal(predictor.probabilities(X), expected)
    np.testing.assert_array_equal(predictor.probabilities(X.tolist()), expected)
    np.testing.assert_array_equal(predictor.probabilities(X[:2]), expected[:2])


@pytest.mark.parametrize("spread", [50.0, 5000.0])  # 5000: saturated sigmoids, both ends
def test_one_row_agrees_with_many(predictor: Predictor, spread: float) -> None:
    """One row takes the plain-Python path, several the NumPy path."""
    X = np.random.default_rng(1).normal(100, spread, size=(2000, 13))
    expected = np.array(predictor.probabilities(X))
    got = np.array([predictor.probabilities([row])[0] for row in X.tolist()])
    assert_probabilities_close(got, expected)
    if spread > 1000:
        assert (expected < 1e-100).any() and (expected == 1.0).any()
    assert predictor.probabilities([X[0]]) == [got[0]]  # an array row takes the same path


def test_probabilities_are_plain_floats_in_order(predictor: Predictor) -> None:
    X = np.random.default_rng(2).normal(100, 50, size=(3, 13))
    got = predictor.probabilities(X.tolist())
    assert isinstance(got, list) and all(type(p) is float for p in got)
    singles = [predictor.probabilities([row])[0] for row in X.tolist()]
    assert_probabilities_close(got, singles)
    assert got[::-1] == predictor.probabilities(X[::-1].tolist())


@pytest.mark.parametrize(
    ("recorded", "named"),
    [
        ({"probability": 0.5}, "served network"),
        ({"interval": [0.1, 0.9]}, "interval low"),
        ({"interval": "missing"}, "no self-test"),
    ],
)
def test_self_test_catches_a_wrong_probability_or_interval(
    artifact_path: Path, tmp_path: Path, recorded: dict[str, Any], named: str
) -> None:
    assert Predictor(load_artifact(artifact_path)).self_test() is None
    payload = read_payload(artifact_path)
    self_test = payload["metadata"]["self_test"]
    self_test.update(recorded)
    if recorded.get("interval") == "missing":
        del self_test["interval"]
    path = copy_artifact(artifact_path, tmp_path)
    write_with_matching_hash(path, payload)
    problem = Predictor(load_artifact(path)).self_test()
    assert problem is not None and named in problem
