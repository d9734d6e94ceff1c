"""NeuralNet passes scikit-learn's own estimator checks, so it works in
Pipeline, cross_val_score and GridSearchCV."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from model import NeuralNet


@parametrize_with_checks([NeuralNet(max_epochs=50, random_state=0)])
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_works_in_pipeline_cross_val_and_grid_search() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 13)) * 10 + 50
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), NeuralNet(max_epochs=100, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="roc_auc")
    assert scores.mean() > 0.9
    # A penalty of 1e4 crushes the weights to nothing: the search must see it.
    grid = {"neuralnet__alpha": [1e4, 0.0]}
    search = GridSearchCV(pipe, grid, cv=3, scoring="roc_auc").fit(X, y)
    assert search.best_params_ == {"neuralnet__alpha": 0.0}
    crushed, free = search.cv_results_["mean_test_score"]
    assert free > 0.9 and free - crushed > 0.1


def test_multiclass_is_refused_with_sklearns_message() -> None:
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        NeuralNet().fit(np.zeros((6, 2)), [0, 1, 2, 0, 1, 2])
