"""What training makes beside the served network: the bootstrap ensemble
(how sure), the Shapley background (why), and the measurements of both and
of the typicality warnings that the artifact's metadata records.
Training-time code: it fits `NeuralNet`s, so it needs scikit-learn;
serving never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import Artifact
from model.ensemble import LEVEL
from model.evaluation import evaluation_folds
from model.explain import ShapleyExplainer
from model.features import FEATURE_NAMES
from model.network import NeuralNet
from model.propagation import Params
from model.serving import Predictor
from model.typicality import FLAGGED_SHARE, Reference, fit_reference

ENSEMBLE_SIZE = 20
BACKGROUND_SIZE = 32
"""Shapley background rows: at least 20; 32 keeps one exact explanation
within its time target (docs/performance.md) while the contributions move little when
the background is drawn again (the model card says how little)."""


def train_members(
    X: np.ndarray, y: np.ndarray, params: dict[str, Any], size: int, seed: int
) -> list[Params]:
    """`size` networks with the served network's hyper-parameters, each fitted
    on a bootstrap resample (n rows drawn with replacement) of the scaled
    training rows X; member i is seeded from `seed` and i alone, so the
    members are the same whatever the number of processes that train them
    (one per core, with joblib)."""
    from joblib import Parallel, delayed

    children = np.random.SeedSequence([seed, 1]).spawn(size)
    jobs = (
        delayed(_member)(X, y, params, child, seed * 1000 + i) for i, child in enumerate(children)
    )
    return list(Parallel(n_jobs=-1)(jobs))


def _member(
    X: np.ndarray, y: np.ndarray, params: dict[str, Any], child: Any, net_seed: int
) -> Params:
    rng = np.random.default_rng(child)
    rows = rng.integers(0, len(X), len(X))
    while len(np.unique(y[rows])) < 2:  # a resample must hold both classes
        rows = rng.integers(0, len(X), len(X))
    net = NeuralNet(**{**params, "random_state": net_seed})
    return net.fit(X[rows], y[rows]).weights_  # type: ignore[no-any-return]


def draw_background(X: np.ndarray, y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` distinct training rows (raw units), drawn without replacement,
    stratified by class so that the background keeps the training
    prevalence."""
    rng = np.random.default_rng([seed, 2])
    picked: list[np.ndarray] = []
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        share = round(size * len(members) / len(y))
        if label == 1:
            share = size - len(picked[0])
        picked.append(rng.choice(members, share, replace=False))
    return X[np.sort(np.concatenate(picked))]


def in_memory_predictor(
    weights: Params,
    members: list[Params],
    background: np.ndarray,
    reference: Reference,
    scaler: Any,
    donors: np.ndarray | None = None,
) -> Predictor:
    """The serving `Predictor` of what training just made, without a file
    (`donors`, the training rows, default to the background)."""
    donors = background if donors is None else donors
    artifact = Artifact(
        Path("<in memory>"), "", weights, members, background, donors, reference,
        scaler.mean_, scaler.scale_, tuple(FEATURE_NAMES), {},
    )  # fmt: skip
    return Predictor(artifact)


def measure_trust(
    weights: Params,
    members: list[Params],
    background: np.ndarray,
    scaler: Any,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[Reference, dict[str, Any]]:
    """The typicality reference of the training rows, and the artifact's
    metadata on the three trust signals, measured on the held-out rows:
    the interval's coverage and width, how much the contributions move when
    the background is drawn again, and the warnings' threshold and rates."""
    X_train, y_train, X_test = split
    reference, typicality = fit_reference(X_train, evaluation_folds(5).split(X_train, y_train))
    predictor = in_memory_predictor(weights, members, background, reference, scaler)
    answers = predictor.assess(X_test)
    p = np.array([a.probability for a in answers])
    low, high = np.array([a.low for a in answers]), np.array([a.high for a in answers])
    explained = np.array([e.contributions for e in predictor.explain(X_test)])
    served = predictor.weights
    moved = []
    for seed in range(1, 5):  # other backgrounds, drawn the same way
        other = ShapleyExplainer.for_network(
            served, draw_background(X_train, y_train, len(background), seed)
        )
        again = np.array([other.explain(x)[1] for x in X_test])
        moved.append(np.abs(again - explained))
    shifts = np.stack(moved)
    return reference, {
        "ensemble": {
            "size": len(members),
            "resampling": "bootstrap of the training rows, same hyper-parameters",
            "level": LEVEL,
            "held_out_coverage": float(np.mean((low <= p) & (p <= high))),
            "held_out_mean_width": float(np.mean(high - low)),
        },
        "background": {
            "size": len(background),
            "drawn": "training rows without replacement, stratified by class (seed 0)",
            "mean_abs_contribution": float(np.mean(np.abs(explained))),
            "mean_abs_change_other_backgrounds": float(np.mean(shifts)),
            "max_abs_change_other_backgrounds": float(np.max(shifts)),
        },
        "typicality": {**typicality, "flagged_share_target": FLAGGED_SHARE},
    }
