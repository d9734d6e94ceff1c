"""What training, tuning and evaluation share: metrics, folds, the tutorial's
configuration, and the models compared.

Imported by `scripts/` only (it needs scikit-learn); serving never imports it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from model.features import THRESHOLD
from model.network import NeuralNet

METRICS = ("accuracy", "roc_auc", "log_loss", "brier")
"""Higher is better for the first two, lower for the last two."""

EVALUATION_SEED = 0
"""Seed of the reported evaluation's folds (5 x repeated stratified 10-fold)."""

TUNING_SEED = 2026
"""Seed of the tuning search's folds: different folds from the evaluation's."""

TUTORIAL_PARAMS: dict[str, Any] = {
    "hidden_units": 8,
    "solver": "sgd",
    "init": "normal",
    "batch_size": None,
    "max_epochs": 100,
    "alpha": 0.0,
    # The tutorial steps by 0.001 times the gradient *summed* over the
    # training samples (it never divides by n). NeuralNet averages, so the
    # same step is 0.001 * n_train: 0.243 for the 243 rows of a 10-fold split.
    "learning_rate": 0.243,
}


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Accuracy (at THRESHOLD), ROC AUC, log loss and Brier score of P(presence)."""
    return {
        "accuracy": float(accuracy_score(y, p >= THRESHOLD)),
        "roc_auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
    }


def evaluation_folds(n_repeats: int = 5) -> RepeatedStratifiedKFold:
    """The reported evaluation's folds, the same for every model."""
    return RepeatedStratifiedKFold(n_splits=10, n_repeats=n_repeats, random_state=EVALUATION_SEED)


def contenders(seed: int = 0) -> dict[str, Pipeline]:
    """The models the evaluation compares, each behind a StandardScaler."""
    return {
        "NeuralNet (defaults)": make_pipeline(StandardScaler(), NeuralNet(random_state=seed)),
        "NeuralNet (tutorial configuration)": make_pipeline(
            StandardScaler(), NeuralNet(random_state=seed, **TUTORIAL_PARAMS)
        ),
        "sklearn LogisticRegression()": make_pipeline(StandardScaler(), LogisticRegression()),
        "sklearn MLPClassifier((8,))": make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=seed),
        ),
    }


def cross_validated(
    pipe: Pipeline, X: np.ndarray, y: np.ndarray, folds: Any, progress: Any = None
) -> tuple[dict[str, list[float]], np.ndarray]:
    """Fit a fresh copy of `pipe` on every training fold and score its test fold.

    Returns the per-fold metrics and the out-of-fold probabilities, shape
    (n_repeats, n): each repeat of the folds predicts every row once.
    """
    per_fold: dict[str, list[float]] = {m: [] for m in METRICS}
    n_splits = folds.get_n_splits() // folds.n_repeats
    oof = np.full((folds.n_repeats, len(y)), np.nan)
    for i, (train, test) in enumerate(folds.split(X, y)):
        with warnings.catch_warnings():
            # sklearn's MLPClassifier baseline may stop at max_iter before its
            # own tolerance is met; it is scored as it is, like every model.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = clone(pipe).fit(X[train], y[train])
        p = model.predict_proba(X[test])[:, 1]
        oof[i // n_splits, test] = p
        for name, value in metrics(y[test], p).items():
            per_fold[name].append(value)
        if progress is not None:
            progress.update(1)
    return per_fold, oof


def summarise(per_fold: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over the folds."""
    return {
        name: {"mean": float(np.mean(v)), "std": float(np.std(v))} for name, v in per_fold.items()
    }
